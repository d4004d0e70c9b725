#!/usr/bin/env bash
# Set everything up, then run the main job: the example pipeline on DuckDB with policies enforced.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo
echo "== the example policy decides on a tour of pipeline statements (prod, as svc:etl) =="
set +e
.venv/bin/lineage check --policy dags_examples/policy.yaml --catalog dags_examples/catalog.json \
    --dialect duckdb --principal svc:etl --env prod dags_examples/sql/governance_tour.sql
code=$?
set -e
echo
echo "lineage check exit code: $code (1 = something was blocked, as expected for this tour)"
[ "$code" = 1 ]
