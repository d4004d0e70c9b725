{#- Every source() and ref() reads through lineage_governance (the two lines of docs/dbt.md). -#}
{% macro source(source_name, table_name, alias=none) %}{{ return(lineage_governance.governed_source(source_name, table_name, alias)) }}{% endmacro %}
{% macro ref() %}{{ return(lineage_governance.governed_ref(*varargs, **kwargs)) }}{% endmacro %}
