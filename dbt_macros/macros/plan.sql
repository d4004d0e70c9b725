{#-
  lineage_plan(): what `lineage dbt` decided for this run, handed to the macros as JSON in the
  environment variable LINEAGE_DBT_PLAN (never in vars, which dbt logs and writes to artifacts):

    {"mode": "run" | "analysis",
     "relations": {"<database.schema.identifier>": {"masks": {"<column>": {"strategy": "email", "args": {}, "tag": "pii.email"}},
                                   "columns": ["id", "email", ...]}},
     "keys": {"hash|pii.ssn": ["<inner pad hex>", "<outer pad hex>"]},
     "custom": {"<expression>": "<SQL over __lineage_value__>"},
     "approved": {"<unique_id>": "<approval id>"},
     "usage": {"<unique_id>": {"<column>": ["model.x.y", "exposure.x.z"]}}}

  Without the runner the plan is empty and the macros fail closed (see governed_relation).
  Only read while executing: at parse time dbt records env_var values for partial parsing.
-#}
{% macro lineage_plan() -%}
    {%- if not execute -%}{{ return({}) }}{%- endif -%}
    {%- set text = env_var('LINEAGE_DBT_PLAN', '') -%}
    {{ return(fromjson(text) if text else {}) }}
{%- endmacro %}
