{#- hash: keyed HMAC-SHA256 of the value as lower-case hex, cut to `length` (8..64) characters (lineage/mask/strategies/hash.py) -#}
{% macro mask_hash(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_hash', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_hash(column, data_type, args, tag) -%}
    {%- set digest = lineage_governance.hmac_sha256_hex(lineage_governance.text_of(column, data_type), lineage_governance.mask_key('hash', tag)) -%}
    {%- set length = args.get('length', 64) | int -%}
    {%- if length >= 64 -%}{{ digest }}{%- else -%}left({{ digest }}, {{ length }}){%- endif -%}
{%- endmacro %}
