{#- partial: prefix characters, a fixed pad, suffix characters; short values become the pad. '+4930123456' -> '+4****56' (lineage/mask/strategies/partial.py) -#}
{% macro mask_partial(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_partial', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_partial(column, data_type, args, tag) -%}
    {%- set text = lineage_governance.text_of(column, data_type) -%}
    {%- set prefix = args['prefix'] | int -%}
    {%- set suffix = args['suffix'] | int -%}
    {%- set pad = lineage_governance.sql_string(args.get('pad', '****')) -%}
    case when length({{ text }}) <= {{ prefix + suffix }} then {{ pad }} else left({{ text }}, {{ prefix }}) || {{ pad }} || right({{ text }}, {{ suffix }}) end
{%- endmacro %}
