{#-
  schema_changes(old_columns, new_columns) -> [{column, text}, ...]: what replacing the relation does.

    old (id integer, city text, zip text), new (id bigint, town text)
    -> retype column id from integer to bigint (a different type family only),
       rename column city to town (a dropped and an added column of one type family at one position),
       drop column zip
-#}
{% macro schema_changes(old_columns, new_columns) -%}
    {%- set new_by_name = {} -%}
    {%- for column in new_columns -%}{%- do new_by_name.update({column.name | lower: column}) -%}{%- endfor -%}
    {%- set old_names = old_columns | map(attribute='name') | map('lower') | list -%}
    {%- set changes = [] -%}
    {%- for column in old_columns -%}
        {%- set key = column.name | lower -%}
        {%- if key in new_by_name -%}
            {%- set old_family = lineage_governance.type_family(column.data_type) -%}
            {%- set new_family = lineage_governance.type_family(new_by_name[key].data_type) -%}
            {%- if old_family and new_family and old_family != new_family and 'other' not in [old_family, new_family] -%}
                {%- do changes.append({'column': column.name, 'text': 'retype column ' ~ column.name ~ ' from ' ~ column.data_type ~ ' to ' ~ new_by_name[key].data_type}) -%}
            {%- endif -%}
        {%- else -%}
            {%- set position = loop.index0 -%}
            {%- set candidate = new_columns[position] if position < (new_columns | length) else none -%}
            {%- if candidate is not none and (candidate.name | lower) not in old_names and lineage_governance.type_family(candidate.data_type) == lineage_governance.type_family(column.data_type) -%}
                {%- do changes.append({'column': column.name, 'text': 'rename column ' ~ column.name ~ ' to ' ~ candidate.name}) -%}
            {%- else -%}
                {%- do changes.append({'column': column.name, 'text': 'drop column ' ~ column.name}) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(changes) }}
{%- endmacro %}
