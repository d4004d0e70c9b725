{#- type_default: a present value becomes its type's neutral value. 'Alice' -> 'XXXX', 42 -> 0, a date -> 1900-01-01 (lineage/mask/strategies/type_default.py) -#}
{% macro mask_type_default(column, data_type, args, tag) -%}
    {{ return(adapter.dispatch('mask_type_default', 'lineage_governance')(column, data_type, args, tag)) }}
{%- endmacro %}

{% macro default__mask_type_default(column, data_type, args, tag) -%}
    {%- set family = lineage_governance.type_family(data_type) -%}
    {%- set defaults = {
        'text': "'XXXX'", 'integer': '0', 'number': '0', 'boolean': 'false',
        'date': "'1900-01-01'", 'timestamp': "'1900-01-01 00:00:00'", 'time': "'00:00:00'",
        'uuid': "'00000000-0000-0000-0000-000000000000'", 'json': "'{}'",
    } -%}
    {%- if family is none -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: type_default needs the column's type (data_type=...) for " ~ column) }}
    {%- elif family not in defaults -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: type_default has no default for type " ~ data_type) }}
    {%- endif -%}
    {{ lineage_governance.present(column, lineage_governance.typed(defaults[family], data_type)) }}
{%- endmacro %}
