"""The learned-column-list attack's seed, shared by the masking and Airflow tests."""

from __future__ import annotations

AIRFLOW_SEED = """
create schema if not exists raw;
create or replace table raw.customers (id integer, full_name varchar, email varchar, ssn varchar,
    salary decimal(12,2), birth_date date, city varchar);
insert into raw.customers values
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', 120000, '1990-12-10', 'London'),
    (2, 'Alan Turing', 'alan@example.org', '987-65-4321', 95000, '1985-06-23', 'Manchester');
"""


AIRFLOW_RAW = ["Ada Lovelace", "ada@example.com", "123-45-6789", "alan@example.org", "987-65-4321"]

