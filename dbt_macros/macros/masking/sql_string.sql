{#- sql_string("O'Brien") -> 'O''Brien': a SQL string literal in the adapter's quoting. -#}
{% macro sql_string(value) -%}
    {{ return(adapter.dispatch('sql_string', 'lineage_governance')(value)) }}
{%- endmacro %}

{% macro default__sql_string(value) -%}
    '{{ (value | string).replace("'", "''") }}'
{%- endmacro %}

{% macro bigquery__sql_string(value) -%}
    '{{ (value | string).replace("\\", "\\\\").replace("'", "\\'") }}'
{%- endmacro %}
