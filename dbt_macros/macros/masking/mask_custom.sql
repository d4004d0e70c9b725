{#-
  custom: the policy's own allow-listed expression over `value` (lineage/mask/strategies/custom.py).
  "left(value, 1) || '.'": 'Alice' -> 'A.'. The expression is checked and rendered by the core
  (`lineage dbt` puts it in the plan with the column as __lineage_value__), never pieced
  together from text here.
-#}
{% macro mask_custom(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_custom', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_custom(column, data_type, args, tag) -%}
    {%- set rendered = lineage_governance.lineage_plan().get('custom', {}).get(args['expression']) -%}
    {%- if not rendered -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: custom expression " ~ args['expression'] ~ " is not in the policy that `lineage dbt` runs with (custom masks are checked and rendered by the core)") }}
    {%- endif -%}
    {{ rendered.replace('__lineage_value__', '(' ~ column ~ ')') }}
{%- endmacro %}
