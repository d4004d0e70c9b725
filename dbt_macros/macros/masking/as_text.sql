{#- as_text('c.ssn') -> cast(c.ssn as text): the value as text, in the dialect's text type. -#}
{% macro as_text(value) -%}
    {{ return(adapter.dispatch('as_text', 'lineage_governance')(value)) }}
{%- endmacro %}

{% macro default__as_text(value) -%}
    cast({{ value }} as text)
{%- endmacro %}

{% macro snowflake__as_text(value) -%}
    cast({{ value }} as varchar)
{%- endmacro %}

{% macro bigquery__as_text(value) -%}
    cast({{ value }} as string)
{%- endmacro %}
