{#-
  schema_change_users(model, 'city', plan) -> " (used by model.shop.dim_customers, exposure.shop.revenue_dashboard; contracts: model.shop.fct_orders)":
  who depends on a column: from the runner's column lineage when it ran, else every dependent of the model.
-#}
{% macro schema_change_users(model, column, plan) -%}
    {%- set usage = (plan.get('usage', {}).get(model.unique_id) or none) -%}
    {%- if usage is not none -%}
        {%- set users = usage.get(column) or usage.get(column | lower) or [] -%}
        {%- set verb = 'used by' -%}
    {%- else -%}
        {%- set users = [] -%}
        {%- for node in graph.nodes.values() -%}
            {%- if model.unique_id in node.depends_on.nodes and node.resource_type in ['model', 'snapshot'] -%}{%- do users.append(node.unique_id) -%}{%- endif -%}
        {%- endfor -%}
        {%- for exposure in graph.exposures.values() -%}
            {%- if model.unique_id in exposure.depends_on.nodes -%}{%- do users.append(exposure.unique_id) -%}{%- endif -%}
        {%- endfor -%}
        {%- set verb = 'downstream, may use it' -%}
    {%- endif -%}
    {%- set contracts = [] -%}
    {%- for user in users -%}
        {%- set node = graph.nodes.get(user) -%}
        {%- if node and node.config.get('contract', {}).get('enforced') -%}{%- do contracts.append(user) -%}{%- endif -%}
    {%- endfor -%}
    {%- if not users -%}{{ return(' (no downstream model or exposure uses it)') }}{%- endif -%}
    {{ return(' (' ~ verb ~ ' ' ~ (users | join(', ')) ~ ((('; contracts: ' ~ (contracts | join(', ')))) if contracts else '') ~ ')') }}
{%- endmacro %}
