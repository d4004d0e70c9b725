{#- redact: letters to x/X, digits to 0, any non-ASCII character to x. 'Ann-Marie 42' -> 'Xxx-Xxxxx 00' (lineage/mask/strategies/redact.py) -#}
{% macro mask_redact(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_redact', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_redact(column, data_type, args, tag) -%}
    regexp_replace(translate({{ lineage_governance.text_of(column, data_type) }}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'XXXXXXXXXXXXXXXXXXXXXXXXXXxxxxxxxxxxxxxxxxxxxxxxxxxx0000000000'), '[^ -~]', 'x', 'g')
{%- endmacro %}

{#- Snowflake and BigQuery replace every match without a flag. -#}
{% macro snowflake__mask_redact(column, data_type, args, tag) -%}
    regexp_replace(translate({{ lineage_governance.text_of(column, data_type) }}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'XXXXXXXXXXXXXXXXXXXXXXXXXXxxxxxxxxxxxxxxxxxxxxxxxxxx0000000000'), '[^ -~]', 'x')
{%- endmacro %}

{% macro bigquery__mask_redact(column, data_type, args, tag) -%}
    {{ lineage_governance.snowflake__mask_redact(column, data_type, args, tag) }}
{%- endmacro %}
