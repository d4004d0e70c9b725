{#- typed("'REDACTED'", 'varchar(40)') -> cast('REDACTED' as varchar(40)); as is without a type. -#}
{% macro typed(expression, data_type) -%}
    {%- if data_type -%}cast({{ expression }} as {{ data_type }}){%- else -%}{{ expression }}{%- endif -%}
{%- endmacro %}
