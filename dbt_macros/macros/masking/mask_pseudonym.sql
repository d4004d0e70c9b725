{#-
  pseudonym: a deterministic keyed stand-in: prefix || 16 hex characters for text, a number of
  the same integer type for integer columns (lineage/mask/strategies/pseudonym.py).
  'alice@example.com' -> 'user_3fa9...' (always the same for this value and key)
-#}
{% macro mask_pseudonym(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_pseudonym', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_pseudonym(column, data_type, args, tag) -%}
    {%- set digest = lineage_governance.hmac_sha256_hex(lineage_governance.text_of(column, data_type), lineage_governance.mask_key('pseudonym', tag)) -%}
    {%- if lineage_governance.type_family(data_type) != 'integer' -%}
        {%- if args.get('prefix') -%}{{ lineage_governance.sql_string(args['prefix']) }} || {% endif -%}
        left({{ digest }}, 16)
    {%- else -%}
        {%- set number = lineage_governance.hex_to_bigint('left(' ~ digest ~ ', 15)') -%}
        {%- set limit = lineage_governance.integer_limit(data_type) -%}
        {%- if limit -%}{%- set number = 'mod(' ~ number ~ ', ' ~ limit ~ ')' -%}{%- endif -%}
        cast({{ number }} as {{ data_type }})
    {%- endif -%}
{%- endmacro %}
