{#- apply_mask('c.ssn', 'show_last', 'text', {'chars': 4}, none) -> the strategy's SQL (each strategy dispatches per adapter). -#}
{% macro apply_mask(column, strategy, data_type, args, tag) -%}
    {%- if strategy == 'nullify' -%}{{ return(lineage_governance.mask_nullify(column, data_type, args, tag)) }}
    {%- elif strategy == 'type_default' -%}{{ return(lineage_governance.mask_type_default(column, data_type, args, tag)) }}
    {%- elif strategy == 'constant' -%}{{ return(lineage_governance.mask_constant(column, data_type, args, tag)) }}
    {%- elif strategy == 'redact' -%}{{ return(lineage_governance.mask_redact(column, data_type, args, tag)) }}
    {%- elif strategy == 'show_first' -%}{{ return(lineage_governance.mask_show_first(column, data_type, args, tag)) }}
    {%- elif strategy == 'show_last' -%}{{ return(lineage_governance.mask_show_last(column, data_type, args, tag)) }}
    {%- elif strategy == 'partial' -%}{{ return(lineage_governance.mask_partial(column, data_type, args, tag)) }}
    {%- elif strategy == 'email' -%}{{ return(lineage_governance.mask_email(column, data_type, args, tag)) }}
    {%- elif strategy == 'hash' -%}{{ return(lineage_governance.mask_hash(column, data_type, args, tag)) }}
    {%- elif strategy == 'date_trunc' -%}{{ return(lineage_governance.mask_date_trunc(column, data_type, args, tag)) }}
    {%- elif strategy == 'pseudonym' -%}{{ return(lineage_governance.mask_pseudonym(column, data_type, args, tag)) }}
    {%- elif strategy == 'custom' -%}{{ return(lineage_governance.mask_custom(column, data_type, args, tag)) }}
    {%- elif strategy == 'deny' -%}{{ return(lineage_governance.mask_deny(column, data_type, args, tag)) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("lineage_governance.mask: unknown masking strategy '" ~ strategy ~ "'") }}
{%- endmacro %}
