{#-
  mask(column, strategy, tag=none, data_type=none, **args): the core's masking strategy as SQL.

    {{ lineage_governance.mask('c.ssn', 'show_last', chars=4) }}
      -> case when length(cast(c.ssn as text)) <= 4 then repeat('*', ...) else ... end
    '123-45-6789' -> '*******6789', the same value lineage/mask/strategies/show_last.py gives

  One macro per strategy (masking/mask_<strategy>.sql), each dispatched per adapter
  (postgres, duckdb, snowflake, bigquery, default). `data_type` is the column's type where the
  strategy keeps it (nullify, type_default, constant, date_trunc, integer pseudonyms); `tag`
  picks the derived key of keyed strategies (hash, pseudonym), which only `lineage dbt` hands
  over. While `lineage dbt` analyses the project it renders lineage_mask(column, strategy,
  tag), so the pre-flight knows the value is masked; when the model runs, the mask carries a
  marker naming it (marked_mask), so the record says which masks ran.
-#}
{% macro mask(column, strategy, tag=none, data_type=none) -%}
    {%- set args = lineage_governance.mask_arguments(strategy, kwargs) -%}
    {%- if not execute -%}
        {#- parsing: the arguments are checked, the SQL is rendered when dbt compiles -#}
        null
    {%- elif lineage_governance.lineage_plan().get('mode') == 'analysis' -%}
        lineage_mask({{ column }}, '{{ strategy }}', '{{ tag or '' }}')
    {%- else -%}
        ({{ lineage_governance.marked_mask(lineage_governance.apply_mask(column, strategy, data_type, args, tag), column, strategy, tag) }})
    {%- endif -%}
{%- endmacro %}
