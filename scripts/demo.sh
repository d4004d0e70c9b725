#!/usr/bin/env bash
# Set everything up, then run the main job: the example Airflow DAGs and dbt project on DuckDB,
# governed (masking, a blocked DROP TABLE, an approval gate), with a verified ledger, validated
# OpenLineage events (also sent to Marquez when OPENLINEAGE_URL is set) and an HTML report.
# Everything lands in ./demo-output (recreated on each run). Extra arguments go to `lineage demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/lineage demo "$@"
