{#- position_of_at(text) -> where the first '@' is (0 when there is none); never LIKE '%@%'. -#}
{% macro position_of_at(text) -%}
    {{ return(adapter.dispatch('position_of_at', 'lineage_governance')(text)) }}
{%- endmacro %}

{% macro default__position_of_at(text) -%}
    strpos({{ text }}, '@')
{%- endmacro %}

{% macro snowflake__position_of_at(text) -%}
    charindex('@', {{ text }})
{%- endmacro %}

{% macro bigquery__position_of_at(text) -%}
    instr({{ text }}, '@')
{%- endmacro %}
