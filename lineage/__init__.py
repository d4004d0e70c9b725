"""lineage-governance: governance in front of pipeline SQL, and proof afterwards of what ran.

Every statement, whatever runs it, takes one path (``governor.py``), and the folders follow it:

    adapters/   Airflow hooks (airflow_plugin/), dbt, DB-API connections turn their world into a statement
    identity/   who is accountable: the run identity, principals, the comment the database logs
    decide/     analysis (sqlglot facts), guardrail rules, allowlists, the catalog -> a Decision (engine.py)
    mask/       the scan-time masking rewrite for the identity
    approve/    approvals: requests, signatures, who may approve
    record/     the hash-chained ledger (started before a statement runs, then its outcome)
    deliver/    OpenLineage events through a durable spool
    evidence/   what proves it afterwards: correlate with the database log, verify-masking, the report
    jit/        just-in-time PostgreSQL roles for a run
    policy/     the YAML policy;  cli/  the ``lineage`` command

``model.py`` holds the plain data that flows (facts, findings, decisions); ``disclosure.py`` what
of a statement may leave the process as text; ``fingerprint.py`` how a statement is recognised;
``openlineage_client.py`` keeps openlineage-python's transports unloaded until something sends.
"""

# Building an event should not cost loading every transport of openlineage-python (openlineage_client.py).
from lineage.openlineage_client import defer_client_init

defer_client_init()
