{#- date_trunc: a date or timestamp truncated to its year or month, keeping the type. 1987-06-15 -> 1987-01-01 (lineage/mask/strategies/date_trunc.py) -#}
{% macro mask_date_trunc(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_date_trunc', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_date_trunc(column, data_type, args, tag) -%}
    {%- set family = lineage_governance.type_family(data_type) -%}
    {%- if family not in ['date', 'timestamp'] -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: date_trunc needs a date or timestamp column (data_type=...), " ~ column ~ " is " ~ (data_type or 'unknown')) }}
    {%- endif -%}
    cast(date_trunc('{{ args["part"] | upper }}', {{ column }}) as {{ data_type }})
{%- endmacro %}

{% macro bigquery__mask_date_trunc(column, data_type, args, tag) -%}
    {%- set family = lineage_governance.type_family(data_type) -%}
    {%- if family == 'date' -%}
        cast(date_trunc({{ column }}, {{ args["part"] | upper }}) as {{ data_type }})
    {%- elif family == 'timestamp' -%}
        cast(timestamp_trunc({{ column }}, {{ args["part"] | upper }}) as {{ data_type }})
    {%- else -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: date_trunc needs a date or timestamp column (data_type=...), " ~ column ~ " is " ~ (data_type or 'unknown')) }}
    {%- endif -%}
{%- endmacro %}
