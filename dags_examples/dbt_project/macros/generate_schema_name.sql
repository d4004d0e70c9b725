{#- Custom schemas are used as they are (raw, staging, marts), so the policy's zones name them. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
