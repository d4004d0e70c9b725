{#- deny: the column reads as NULL of its type; the pre-flight refuses models that reference it (lineage/mask/strategies/deny.py) -#}
{% macro mask_deny(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_deny', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_deny(column, data_type, args, tag) -%}
    {{ lineage_governance.typed('null', data_type) }}
{%- endmacro %}
