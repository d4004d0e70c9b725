{#-
  schema_change_users(model, 'city', plan) -> " (used by model.shop.dim_customers (city), exposure.shop.revenue_dashboard; contracts: ...)":
  who depends on a column: from the runner's column lineage when it ran, else every model
  downstream of this one (transitively) and the exposures over them.
-#}
{% macro schema_change_users(model, column, plan) -%}
    {%- set usage = (plan.get('usage', {}).get(model.unique_id) or none) -%}
    {%- if usage is not none -%}
        {%- set users = usage.get(column) or usage.get(column | lower) or [] -%}
        {%- set verb = 'used by' -%}
    {%- else -%}
        {%- set users = [] -%}
        {%- set reached = [model.unique_id] -%}
        {%- for _ in range(50) -%}
            {%- set before = reached | length -%}
            {%- for node in graph.nodes.values() if node.resource_type in ['model', 'snapshot'] and node.unique_id not in reached -%}
                {%- if node.depends_on.nodes | select('in', reached) | list -%}
                    {%- do reached.append(node.unique_id) -%}
                    {%- do users.append(node.unique_id) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for exposure in graph.exposures.values() -%}
            {%- if exposure.depends_on.nodes | select('in', reached) | list -%}{%- do users.append(exposure.unique_id) -%}{%- endif -%}
        {%- endfor -%}
        {%- set verb = 'downstream, may use it:' -%}
    {%- endif -%}
    {%- set contracts = [] -%}
    {%- for user in users -%}
        {%- set node = graph.nodes.get(user.split(' ')[0]) -%}
        {%- if node and node.config.get('contract', {}).get('enforced') -%}{%- do contracts.append(user.split(' ')[0]) -%}{%- endif -%}
    {%- endfor -%}
    {%- if not users -%}{{ return(' (no downstream model or exposure uses it)') }}{%- endif -%}
    {{ return(' (' ~ verb ~ ' ' ~ (users | join(', ')) ~ ((('; contracts: ' ~ (contracts | join(', ')))) if contracts else '') ~ ')') }}
{%- endmacro %}
