{#-
  governed_ref('stg_customers') -> the model's relation, or its masked derived table for an
  identity that may not read its classified columns raw (see governed_relation). Takes what
  ref() takes (package, version=/v=) plus alias=.

  Make every ref() in a project governed with two lines in its macros/:

    {% macro ref() %}{{ return(lineage_governance.governed_ref(*varargs, **kwargs)) }}{% endmacro %}
-#}
{% macro governed_ref() -%}
    {%- set alias = kwargs.get('alias') -%}
    {%- set options = {} -%}
    {%- for key, value in kwargs.items() if key != 'alias' -%}{%- do options.update({key: value}) -%}{%- endfor -%}
    {%- set relation = builtins.ref(*varargs, **options) -%}
    {%- if not execute or relation.identifier is not defined or relation.identifier is none -%}
        {{ return(relation ~ ((' as ' ~ adapter.quote(alias)) if alias and execute else '')) }}
    {%- endif -%}
    {%- set node_id = lineage_governance.relation_node_id(relation) -%}
    {%- if node_id is none -%}
        {{ return(relation ~ ((' as ' ~ adapter.quote(alias)) if alias else '')) }}
    {%- endif -%}
    {{ return(lineage_governance.governed_relation(relation, node_id, alias)) }}
{%- endmacro %}
