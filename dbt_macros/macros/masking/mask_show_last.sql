{#- show_last: the last `chars` characters stay, the rest become '*'. '123-45-6789' -> '*******6789' (lineage/mask/strategies/show_last.py) -#}
{% macro mask_show_last(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_show_last', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_show_last(column, data_type, args, tag) -%}
    {%- set text = lineage_governance.text_of(column, data_type) -%}
    {%- set n = args['chars'] | int -%}
    case when length({{ text }}) <= {{ n }} then repeat('*', length({{ text }})) else repeat('*', length({{ text }}) - {{ n }}) || right({{ text }}, {{ n }}) end
{%- endmacro %}
