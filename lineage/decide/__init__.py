"""Deciding on a statement: SQL + identity -> Decision (``engine.py``).

    analysis/     sqlglot: parse, qualify with the catalog, StatementFacts (kinds, reads, writes, lineage)
    rules/        guardrail rules, one file each: facts -> findings
    allowlist/    what a statement may call and read (functions, system relations), as data
    catalog.py    tables and their columns (live database, dbt, JSON); catalog_file.py reads the JSON
    classify.py   classifications through column lineage, and zones
    engine.py     analysis -> rules -> masking -> Decision, cached
    limits.py, deadline.py   the size and time bounds of one check
    names.py      table names and globs
"""
