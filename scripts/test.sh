#!/usr/bin/env bash
# Set everything up and run the whole test suite (real PostgreSQL, DuckDB, Airflow and dbt).
# Extra arguments go to pytest, e.g. scripts/test.sh -k masking
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for-tests
exec .venv/bin/python -m pytest "$@"
