{#- text_of('c.id', 'integer') -> cast(c.id as text); a text column stays as it is (the core's as_text). -#}
{% macro text_of(column, data_type) -%}
    {%- if lineage_governance.type_family(data_type) == 'text' -%}{{ column }}{%- else -%}{{ lineage_governance.as_text(column) }}{%- endif -%}
{%- endmacro %}
