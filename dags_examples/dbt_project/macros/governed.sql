{#- Every source() and ref() in this project reads through lineage_governance: classified
    columns arrive masked for identities that may not see them raw (two lines, see docs/dbt.md). -#}
{% macro source(source_name, table_name, alias=none) %}{{ return(lineage_governance.governed_source(source_name, table_name, alias)) }}{% endmacro %}
{% macro ref() %}{{ return(lineage_governance.governed_ref(*varargs, **kwargs)) }}{% endmacro %}
