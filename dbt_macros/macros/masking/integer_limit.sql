{#- integer_limit('smallint') -> 32767: the modulus that keeps an integer pseudonym inside its type (none for 64-bit and wider). -#}
{% macro integer_limit(data_type) -%}
    {%- set base = (data_type | lower | trim).split('(')[0] | trim -%}
    {%- set limits = {
        'tinyint': 127, 'int1': 127, 'utinyint': 255,
        'smallint': 32767, 'int2': 32767, 'int16': 32767, 'smallserial': 32767, 'usmallint': 65535,
        'mediumint': 8388607,
        'int': 2147483647, 'integer': 2147483647, 'int4': 2147483647, 'int32': 2147483647, 'serial': 2147483647,
        'uinteger': 4294967295,
    } -%}
    {{ return(limits.get(base)) }}
{%- endmacro %}
