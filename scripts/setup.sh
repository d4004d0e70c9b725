#!/usr/bin/env bash
# Set up everything the project needs: uv, the locked environment (.venv) with all extras.
# Usage: scripts/setup.sh [--for-tests]   (--for-tests: also Debian's postgresql-15, redis-server and chromium, which the tests use)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return; fi
  if [ -x .tools/bin/uv ]; then echo "$PWD/.tools/bin/uv"; return; fi
  local python=""
  for candidate in python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
      python=$candidate; break
    fi
  done
  [ -n "$python" ] || { echo "Python 3.10 or newer is needed" >&2; exit 2; }
  log "installing uv into .tools/ (a private virtual environment)"
  if "$python" -m venv .tools >/dev/null 2>&1; then
    .tools/bin/python -m pip install --quiet --disable-pip-version-check 'uv>=0.5'
  else
    rm -rf .tools
    "$python" -m pip install --quiet --user --break-system-packages 'uv>=0.5' 2>/dev/null || "$python" -m pip install --quiet --user 'uv>=0.5'
    mkdir -p .tools/bin && ln -sf "$("$python" -m site --user-base)/bin/uv" .tools/bin/uv
  fi
  echo "$PWD/.tools/bin/uv"
}

UV=$(find_uv)
log "uv: $("$UV" --version)"
log "syncing .venv from uv.lock (all extras)"
"$UV" sync --locked --all-extras --quiet

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's $* (for the tests)"
    if [ -z "${APT_UPDATED:-}" ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    log "missing: $* (install it with your package manager; the tests need it)"
    exit 2
  fi
}

if [ "${1:-}" = "--for-tests" ]; then
  if .venv/bin/python -c 'from testkit.postgres import find_bindir; find_bindir()' >/dev/null 2>&1; then
    log "PostgreSQL server binaries: found (the tests start their own throwaway servers)"
  else
    apt_install postgresql-15
  fi
  if command -v redis-server >/dev/null 2>&1; then
    log "Redis server: found (the Celery deployment tests start their own)"
  else
    apt_install redis-server
  fi
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    log "headless Chromium: found (the report test opens the HTML in it)"
  else
    apt_install chromium
  fi
fi
log "ready: .venv/bin/lineage, .venv/bin/airflow, .venv/bin/dbt"
