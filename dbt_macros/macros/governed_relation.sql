{#-
  governed_relation(relation, node_id, alias): the relation itself, or, when the plan masks some
  of its columns for this run's identity, a derived table that projects every column with the
  classified ones masked (scan-time masking, as the core's rewrite does):

    "shop"."raw"."raw_customers"
      -> (select "id", (case when "email" is null then null else ... end) as "email", ... from "shop"."raw"."raw_customers") as "raw_customers"

  The derived table carries its own alias (the table's name, or `alias`), like dbt's --empty;
  write `{{ source('shop', 'customers', alias='c') }}` instead of `{{ source(...) }} as c`.

  Who decides: `lineage dbt` puts the masks for this identity in LINEAGE_DBT_PLAN (policy and
  column-meta classifications, exemptions, strategies, keys). Without the runner there is no
  identity to exempt, so classified columns (column meta `classification`) are nullified: it
  fails closed. A relation whose columns cannot be read is refused.
-#}
{% macro governed_relation(relation, node_id, alias=none) -%}
    {%- set name = alias or relation.identifier -%}
    {%- set suffix = (' as ' ~ adapter.quote(alias)) if alias else '' -%}
    {%- if not execute -%}{{ return(relation) }}{%- endif -%}
    {%- set plan = lineage_governance.lineage_plan() -%}
    {%- if plan.get('mode') == 'analysis' -%}
        {#- the pre-flight learns which relations each node reads through this macro -#}
        {%- do log('lineage_governance:governed ' ~ node_id, info=false) -%}
        {{ return((relation ~ suffix) if alias else relation) }}
    {%- endif -%}
    {%- if plan -%}
        {%- set key = (relation.database ~ '.' ~ relation.schema ~ '.' ~ relation.identifier) | lower -%}
        {%- set entry = plan.get('relations', {}).get(key) -%}
        {%- if entry is none -%}
            {{ exceptions.raise_compiler_error("lineage_governance: the pre-flight of this run did not see " ~ relation ~ " read through governed_source/governed_ref (" ~ node_id ~ "); refusing to read it unchecked") }}
        {%- endif -%}
        {%- set masks = entry.get('masks', {}) -%}
    {%- else -%}
        {%- set masks = lineage_governance.meta_masks(node_id) -%}
    {%- endif -%}
    {%- if not masks -%}{{ return((relation ~ suffix) if alias else relation) }}{%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(relation) -%}
    {%- if not columns -%}
        {{ exceptions.raise_compiler_error("lineage_governance: cannot mask " ~ relation ~ " (" ~ node_id ~ "): its columns cannot be read, so masking cannot be proven") }}
    {%- endif -%}
    {%- set known = (entry.get('columns') or []) | map('lower') | list if plan and entry else [] -%}
    {%- set projections = [] -%}
    {%- set seen = [] -%}
    {%- for column in columns -%}
        {%- set key = column.name | lower -%}
        {%- do seen.append(key) -%}
        {%- if known and key not in known -%}
            {{ exceptions.raise_compiler_error("lineage_governance: " ~ relation ~ " has a column " ~ column.name ~ " the pre-flight did not see; run `lineage dbt` again so it is classified before it is read") }}
        {%- endif -%}
        {%- set mask = masks.get(column.name) or masks.get(key) -%}
        {%- set quoted = adapter.quote(column.name) -%}
        {%- if mask -%}
            {%- do projections.append(lineage_governance.masked_column(quoted, mask, column.data_type) ~ ' as ' ~ quoted) -%}
        {%- else -%}
            {%- do projections.append(quoted) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for wanted in masks -%}
        {%- if (wanted | lower) not in seen -%}
            {{ exceptions.raise_compiler_error("lineage_governance: " ~ relation ~ " has no column " ~ wanted ~ " to mask; the plan and the warehouse disagree") }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('(select ' ~ (projections | join(', ')) ~ ' from ' ~ relation ~ ') as ' ~ adapter.quote(name)) }}
{%- endmacro %}
