{#- source_node_id('shop', 'customers') -> 'source.governed_shop.shop.customers' (the unique id in the graph). -#}
{% macro source_node_id(source_name, table_name) -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.source_name == source_name and node.name == table_name -%}
            {{ return(node.unique_id) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name) }}
{%- endmacro %}
