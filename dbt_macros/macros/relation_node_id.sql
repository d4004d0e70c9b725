{#- relation_node_id(relation) -> 'model.governed_shop.stg_customers': the node that builds this relation, none for ephemeral models. -#}
{% macro relation_node_id(relation) -%}
    {%- set rendered = relation.render() | lower -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type in ['model', 'seed', 'snapshot'] and node.relation_name and (node.relation_name | lower) == rendered -%}
            {{ return(node.unique_id) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}
