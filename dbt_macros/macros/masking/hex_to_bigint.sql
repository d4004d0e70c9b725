{#- hex_to_bigint("'0a'") -> 10: 15 hex characters (60 bits) as a BIGINT, per adapter (pseudonym's HEX_TO_BIGINT). -#}
{% macro hex_to_bigint(hex) -%}
    {{ return(adapter.dispatch('hex_to_bigint', 'lineage_governance')(hex)) }}
{%- endmacro %}

{% macro default__hex_to_bigint(hex) -%}
    {{ exceptions.raise_compiler_error("lineage_governance: integer pseudonyms have no SQL for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro postgres__hex_to_bigint(hex) -%}
    cast(cast('x' || {{ hex }} as bit(60)) as bigint)
{%- endmacro %}

{% macro duckdb__hex_to_bigint(hex) -%}
    cast('0x' || {{ hex }} as bigint)
{%- endmacro %}

{% macro snowflake__hex_to_bigint(hex) -%}
    to_number({{ hex }}, 'XXXXXXXXXXXXXXX')
{%- endmacro %}

{% macro bigquery__hex_to_bigint(hex) -%}
    cast(concat('0x', {{ hex }}) as int64)
{%- endmacro %}
