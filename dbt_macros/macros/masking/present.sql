{#- present('x', "'y'") -> case when x is null then null else 'y' end (NULL stays NULL). -#}
{% macro present(value, then) -%}
    case when {{ value }} is null then null else {{ then }} end
{%- endmacro %}
