{#- show_first: the first `chars` characters stay, the rest become '*'. 'Alice' -> 'Al***', 'Al' -> '**' (lineage/mask/strategies/show_first.py) -#}
{% macro mask_show_first(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_show_first', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_show_first(column, data_type, args, tag) -%}
    {%- set text = lineage_governance.text_of(column, data_type) -%}
    {%- set n = args['chars'] | int -%}
    case when length({{ text }}) <= {{ n }} then repeat('*', length({{ text }})) else left({{ text }}, {{ n }}) || repeat('*', length({{ text }}) - {{ n }}) end
{%- endmacro %}
