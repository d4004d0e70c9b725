{#- email_domain(text) -> what follows the last '@'. -#}
{% macro email_domain(text) -%}
    {{ return(adapter.dispatch('email_domain', 'lineage_governance')(text)) }}
{%- endmacro %}

{% macro default__email_domain(text) -%}
    reverse(split_part(reverse({{ text }}), '@', 1))
{%- endmacro %}

{#- BigQuery has no split_part; its regex classes match newlines, as the core's does. -#}
{% macro bigquery__email_domain(text) -%}
    regexp_extract({{ text }}, '[^@]*$')
{%- endmacro %}
