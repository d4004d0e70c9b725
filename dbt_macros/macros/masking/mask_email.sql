{#- email: the local part becomes '*****', the domain stays unless mask_domain. 'alice@example.com' -> '*****@example.com' (lineage/mask/strategies/email.py) -#}
{% macro mask_email(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_email', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_email(column, data_type, args, tag) -%}
    {%- set text = lineage_governance.text_of(column, data_type) -%}
    {%- if args.get('mask_domain', false) -%}
        {%- set masked = "'*****@*****'" -%}
    {%- else -%}
        {%- set masked = "'*****@' || " ~ lineage_governance.email_domain(text) -%}
    {%- endif -%}
    {{ lineage_governance.present(column, "case when " ~ lineage_governance.position_of_at(text) ~ " > 0 then " ~ masked ~ " else '*****' end") }}
{%- endmacro %}
