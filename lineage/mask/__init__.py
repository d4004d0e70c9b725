"""Dynamic masking: strategies and the scan-time rewrite.

- ``strategies/``: one pure function per strategy (sqlglot expression for a dialect) and the registry.
- ``arguments.py``: the strategies' arguments, checked when the policy loads.
- ``keys.py``: the key of ``hash``/``pseudonym`` (env var or file) and its per-tag derivation.
- ``plan.py``: per identity, which tables are protected and how each classified column is masked.
- ``rewrite.py``: ``mask_statement(facts, context) -> MaskResult``, the engine's masking step
  (``step.py`` loads it once a column is classified).

Kept import-light: the policy model imports the strategy registry from here.
"""
