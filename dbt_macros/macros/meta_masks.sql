{#-
  meta_masks('source.shop.raw.customers') -> {"email": {"strategy": "nullify", ...}}: without
  `lineage dbt` there is no policy and no identity, so every column whose meta carries a
  `classification` reads as NULL (fail closed).
-#}
{% macro meta_masks(node_id) -%}
    {%- set node = graph.sources.get(node_id) or graph.nodes.get(node_id) -%}
    {%- set masks = {} -%}
    {%- if node -%}
        {%- for name, column in node.columns.items() -%}
            {%- set tags = (column.meta or {}).get('classification') or (column.get('config', {}).get('meta', {}) or {}).get('classification') -%}
            {%- if tags -%}
                {%- do masks.update({name: {'strategy': 'nullify', 'args': {}, 'tag': (tags if tags is string else tags[0])}}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(masks) }}
{%- endmacro %}
