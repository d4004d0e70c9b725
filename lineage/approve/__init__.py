"""Approvals for statements the policy holds: requested by the run, decided by people, verified by the worker.

    approvals.py      the store and the service (request, decide, find the approval covering a statement)
    binding.py        what an approval binds: the exact statement, environment, principal, job, run
    keys.py           Ed25519 keys; approver_keys.py a folder of them and a policy trusting them (demo, tests)
    verify.py         the worker's check of a signed approval before the statement runs
    notify.py         Slack and webhook notices
    service.py        the service as every runner of statements opens it (store, ledger, notifier)
"""
