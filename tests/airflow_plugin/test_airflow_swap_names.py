"""Through the Airflow hook, a masked run cannot unmask a classified table by renaming it to a dbt
swap name (``customers__dbt_backup``): only dbt renames its own node's relations, and a swap
relation shares its model's classification (tests/airflow_dags/lg_redteam.py; the same on DB-API
connections in tests/decide/test_swap_names.py)."""

from __future__ import annotations

import pytest

from airflow_seeds import AIRFLOW_RAW, AIRFLOW_SEED  # the same seed as the learned-column-list attack


@pytest.mark.airflow
@pytest.mark.parametrize("task_id", ["rename_to_dbt_backup_then_read"])
def test_airflow_hook_does_not_hand_a_masked_run_raw_values(airflow_home, tmp_path, task_id):
    import duckdb

    path = tmp_path / "redteam.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(AIRFLOW_SEED)
    airflow_home.connection("rt_warehouse", conn_type="duckdb", host=str(path))
    run = airflow_home.test("lg_redteam")
    returned = repr(airflow_home.xcom(run, task_id))
    assert not [value for value in AIRFLOW_RAW if value in returned], f"{task_id} returned raw values: {returned[:300]}"
