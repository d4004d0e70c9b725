{#-
  identity_comment(node): the run identity for dbt's query-comment, in the core's sqlcommenter
  format (lineage/identity/comment.py: sorted keys, URL-encoded values), so the database log, the
  ledger and the OpenLineage events join on the same run id:

    query-comment: {comment: "{{ lineage_governance.identity_comment(node) }}", append: true}
    -> /* invocation_id='5c1e...',job='dbt%2Fgoverned_shop.build',node_id='model.governed_shop.dim_customers',
          principal='svc%3Adbt',run_id='0190...',source='dbt' */

  Fields (the same defaults as lineage.identity.run_identity.from_environment): run_id (LINEAGE_RUN_ID, which
  `lineage dbt` sets to the dbt invocation's OpenLineage run, else dbt's invocation_id), job
  (LINEAGE_JOB_NAMESPACE / LINEAGE_JOB_NAME), principal (LINEAGE_PRINCIPAL, else os:$USER),
  source, actor (LINEAGE_ACTOR), parent_run_id (from OPENLINEAGE_PARENT_ID), lg_policy
  (LINEAGE_POLICY_VERSION), the Airflow task (AIRFLOW_CTX_DAG_ID, _TASK_ID, _TRY_NUMBER), dbt's
  invocation_id and the node's unique_id. dbt wraps it in /* */ itself.
-#}
{% macro identity_comment(node=none) -%}
    {%- set parent = env_var('OPENLINEAGE_PARENT_ID', '') -%}
    {%- set parent_parts = parent.split('/') if parent else [] -%}
    {%- set parent_namespace = parent_parts[0] if parent_parts | length >= 3 else '' -%}
    {%- set parent_job = (parent_parts[1:-1] | join('/')) if parent_parts | length >= 3 else '' -%}
    {%- set fields = {
        'run_id': env_var('LINEAGE_RUN_ID', '') or invocation_id,
        'job': (env_var('LINEAGE_JOB_NAMESPACE', '') or parent_namespace or 'lineage-governance') ~ '/' ~ (env_var('LINEAGE_JOB_NAME', '') or ((parent_job ~ '.') if parent_job else '') ~ 'dbt.' ~ project_name),
        'principal': env_var('LINEAGE_PRINCIPAL', '') or ('os:' ~ (env_var('USER', '') or env_var('LOGNAME', '') or 'unknown')),
        'source': 'dbt',
        'invocation_id': invocation_id,
    } -%}
    {%- if env_var('LINEAGE_ACTOR', '') -%}{%- do fields.update({'actor': env_var('LINEAGE_ACTOR')}) -%}{%- endif -%}
    {%- if parent_parts | length >= 3 -%}{%- do fields.update({'parent_run_id': parent_parts[-1]}) -%}{%- endif -%}
    {%- if env_var('LINEAGE_POLICY_VERSION', '') -%}{%- do fields.update({'lg_policy': env_var('LINEAGE_POLICY_VERSION')}) -%}{%- endif -%}
    {%- for key, variable in [('dag_id', 'AIRFLOW_CTX_DAG_ID'), ('task_id', 'AIRFLOW_CTX_TASK_ID'), ('try_number', 'AIRFLOW_CTX_TRY_NUMBER')] -%}
        {%- if env_var(variable, '') -%}{%- do fields.update({key: env_var(variable)}) -%}{%- endif -%}
    {%- endfor -%}
    {%- if node is not none and node.unique_id -%}{%- do fields.update({'node_id': node.unique_id}) -%}{%- endif -%}
    {%- set pairs = [] -%}
    {%- for key in fields | sort(case_sensitive=true) -%}
        {%- do pairs.append((key | urlencode | replace('/', '%2F')) ~ "='" ~ (fields[key] | string | urlencode | replace('/', '%2F')) ~ "'") -%}
    {%- endfor -%}
    {{ return(pairs | join(',')) }}
{%- endmacro %}
