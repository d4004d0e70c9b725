{#- nullify: every value becomes NULL of the column's type. 85000.00 -> NULL (lineage/mask/strategies/nullify.py) -#}
{% macro mask_nullify(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_nullify', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_nullify(column, data_type, args, tag) -%}
    {{ lineage_governance.typed('null', data_type) }}
{%- endmacro %}
