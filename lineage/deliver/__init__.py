"""OpenLineage events with governance facets, Marquez-ready, delivered without loss.

    naming.py       dataset namespaces and names (postgres://host:port, duckdb://path, ...)
    facets.py       our custom facets (lineageGovernance_*), schemas in schemas/<version>/
    datasets.py     a statement's inputs and outputs: dataSource, schema, columnLineage, ...
    build.py        RunEvents: statement runs (children of the identity's run) and job runs
    governance.py   GovernanceEvents: the governor's events collaborator
    emit.py         EventEmitter and sinks (JSONL file, the spool); fast serialisation
    spool.py        the durable spool and its background sender
    transport.py    openlineage-python's client and transports behind the spool
    registry.py     the JSON Schemas (spec/ vendored from OpenLineage, schemas/ ours)
    marquez/        Marquez's rules (docs/marquez.md), one check per file
    validate.py     spec + facet schemas + Marquez rules, for one event or a JSONL stream
"""
