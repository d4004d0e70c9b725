"""Who is accountable for a statement, and how the database learns it.

    run_identity.py   RunIdentity: principal, groups, environment, job, OpenLineage run and parent
    principal.py      the policy's identity section: which principal and groups a run gets
    canonical.py      one comparison of names (approvers, requesters, groups)
    comment.py        the sqlcommenter comment and application_name every statement carries
"""
