"""Evidence afterwards: that what the ledger says is what the database saw, and that masks held.

    correlate.py, csvlog.py, catalog_lookup.py   line PostgreSQL's csvlog up with the ledger
    verify_masking.py                           Great Expectations checks: no raw values outside their zones
    report/                                      a self-contained HTML report of runs, lineage and decisions
"""
