{#- constant: a present value becomes a fixed value cast to the column's type. 'Lisbon' -> 'REDACTED' (lineage/mask/strategies/constant.py) -#}
{% macro mask_constant(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_constant', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_constant(column, data_type, args, tag) -%}
    {%- set value = args['value'] -%}
    {%- if value is sameas true -%}
        {%- set literal = 'true' -%}
    {%- elif value is sameas false -%}
        {%- set literal = 'false' -%}
    {%- elif value is number -%}
        {%- set literal = value | string -%}
    {%- else -%}
        {%- if lineage_governance.type_family(data_type) in ['integer', 'number'] and not lineage_governance.is_numeric_text(value) -%}
            {{ exceptions.raise_compiler_error("lineage_governance.mask: constant '" ~ value ~ "' is not a number, but the column is " ~ data_type) }}
        {%- endif -%}
        {%- set literal = lineage_governance.sql_string(value) -%}
    {%- endif -%}
    {{ lineage_governance.present(column, lineage_governance.typed(literal, data_type)) }}
{%- endmacro %}
