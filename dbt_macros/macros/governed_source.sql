{#-
  governed_source('shop', 'customers') -> the source relation, or its masked derived table for
  an identity that may not read its classified columns raw (see governed_relation).

  Make every source() in a project governed with two lines in its macros/:

    {% macro source(source_name, table_name, alias=none) %}{{ return(lineage_governance.governed_source(source_name, table_name, alias)) }}{% endmacro %}
-#}
{% macro governed_source(source_name, table_name, alias=none) -%}
    {%- set relation = builtins.source(source_name, table_name) -%}
    {%- if not execute -%}{{ return(relation) }}{%- endif -%}
    {%- set node_id = lineage_governance.source_node_id(source_name, table_name) -%}
    {{ return(lineage_governance.governed_relation(relation, node_id, alias)) }}
{%- endmacro %}
