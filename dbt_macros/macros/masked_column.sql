{#- masked_column('"email"', {"strategy": "email", "args": {}, "tag": "pii.email"}, 'text') -> the mask of one column, one line. -#}
{% macro masked_column(column, mask, data_type) -%}
    {%- set args = lineage_governance.mask_arguments(mask['strategy'], mask.get('args') or {}) -%}
    {%- set sql = lineage_governance.apply_mask(column, mask['strategy'], data_type, args, mask.get('tag')) -%}
    {{ return('(' ~ lineage_governance.marked_mask(sql | replace('\n', ' '), column, mask['strategy'], mask.get('tag')) ~ ')') }}
{%- endmacro %}
