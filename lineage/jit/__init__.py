"""Just-in-time PostgreSQL roles: one per run, granted what its statements need, dropped at the end.

    manager.py    create, grant, seal, revoke and sweep roles
    names.py      names resolved as the server would (search_path)
    dsn.py        the role's connection built from the admin DSN
    handover.py   what a run created goes to the owner role
    audit.py      ``lineage jit check``: what the admin, owner and PUBLIC can do that they should not
"""
