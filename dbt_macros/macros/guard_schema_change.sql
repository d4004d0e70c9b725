{#-
  guard_schema_change(): a pre-hook that refuses to replace a relation whose columns would be
  dropped, retyped or renamed, naming the downstream models, contracts and exposures that use
  them, unless the change is approved:

    models: {+pre-hook: "{{ lineage_governance.guard_schema_change() }}"}

    stg_customers drops `city`
    -> Compilation Error: lineage_governance.guard_schema_change: model.shop.stg_customers would
       drop column city (used by model.shop.dim_customers, exposure.shop.revenue_dashboard; ...)

  Approved by `lineage dbt` (an approval id in the plan, after `lineage approvals approve`) or by
  the var lineage_approved_schema_changes: ['stg_customers', 'stg_customers.city', ...].
  Column-level usage comes from the runner's lineage; without it every dependent is listed.
-#}
{% macro guard_schema_change() -%}
    {%- if not execute or model is not defined or model.resource_type not in ['model', 'snapshot'] -%}{{ return('') }}{%- endif -%}
    {%- if lineage_governance.lineage_plan().get('mode') == 'analysis' -%}{{ return('') }}{%- endif -%}
    {%- if model.config.materialized not in ['table', 'view', 'incremental', 'snapshot', 'materialized_view'] -%}{{ return('') }}{%- endif -%}
    {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
    {%- if existing is none -%}{{ return('') }}{%- endif -%}
    {%- set old_columns = adapter.get_columns_in_relation(existing) -%}
    {%- set new_columns = get_column_schema_from_query(model.compiled_code) -%}
    {%- set changes = lineage_governance.schema_changes(old_columns, new_columns) -%}
    {%- if not changes -%}{{ return('') }}{%- endif -%}
    {%- set plan = lineage_governance.lineage_plan() -%}
    {%- set approval = plan.get('approved', {}).get(model.unique_id) -%}
    {%- set approved_vars = var('lineage_approved_schema_changes', []) -%}
    {%- set pending = [] -%}
    {%- for change in changes -%}
        {%- set names = [model.name, model.unique_id, model.name ~ '.' ~ change.column, model.unique_id ~ '.' ~ change.column] -%}
        {%- if not approval and not (names | select('in', approved_vars) | list) -%}
            {%- do pending.append(change) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not pending -%}
        {{ log("lineage_governance.guard_schema_change: " ~ model.unique_id ~ ": " ~ (changes | map(attribute='text') | join('; ')) ~ " approved" ~ ((" (" ~ approval ~ ")") if approval else " (var lineage_approved_schema_changes)"), info=true) }}
        {{ return('') }}
    {%- endif -%}
    {%- set lines = [] -%}
    {%- for change in pending -%}
        {%- do lines.append(change.text ~ lineage_governance.schema_change_users(model, change.column, plan)) -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("lineage_governance.guard_schema_change: " ~ model.unique_id ~ " would " ~ (lines | join('; ')) ~ ". Approve it with `lineage approvals approve <request id>` (requested by `lineage dbt`) or --vars '{lineage_approved_schema_changes: [" ~ model.name ~ "." ~ pending[0].column ~ "]}'") }}
{%- endmacro %}
