{#- is_numeric_text('12.5') -> true: the text a float() accepts. -#}
{% macro is_numeric_text(text) -%}
    {%- set body = (text | string | trim | lower).lstrip('+-') -%}
    {%- if body in ['inf', 'infinity', 'nan'] -%}{{ return(true) }}{%- endif -%}
    {%- set mantissa = body.split('e')[0] -%}
    {%- set exponent = body.split('e')[1] if body.count('e') == 1 else '' -%}
    {%- set digits = mantissa.replace('.', '', 1).replace('_', '') -%}
    {{ return(body.count('e') <= 1 and digits != '' and digits.isdigit() and (exponent == '' or exponent.lstrip('+-').isdigit())) }}
{%- endmacro %}
