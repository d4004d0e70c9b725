{#-
  load_csv_rows(model, agate_table): dbt's seed loading with the identity comment on each
  statement. dbt sends seed rows through adapter.add_query, which skips its query-comment, so
  without this the seeds' INSERT/COPY statements reach the database (and its log) unattributed
  and reach the ledger cut at 512 characters. Enable it in dbt_project.yml:

    dispatch:
      - macro_namespace: dbt
        search_order: ['<your project>', 'lineage_governance', 'dbt']

  The statements are dbt's own (default: batched INSERT with bindings; DuckDB: COPY from the
  file), only commented, and logged in full up to 64 KB.
-#}
{% macro default__load_csv_rows(model, agate_table) %}
    {% set batch_size = get_batch_size() %}
    {% set cols_sql = get_seed_column_quoted_csv(model, agate_table.column_names) %}
    {% set statements = [] %}
    {% for chunk in agate_table.rows | batch(batch_size) %}
        {% set bindings = [] %}
        {% for row in chunk %}
            {% do bindings.extend(row) %}
        {% endfor %}
        {% set sql %}
            insert into {{ this.render() }} ({{ cols_sql }}) values
            {% for row in chunk -%}
                ({%- for column in agate_table.column_names -%}
                    {{ get_binding_char() }}
                    {%- if not loop.last%},{%- endif %}
                {%- endfor -%})
                {%- if not loop.last%},{%- endif %}
            {%- endfor %}
        {% endset %}
        {% set sql = lineage_governance.commented(sql, model, bindings=true) %}
        {% do adapter.add_query(sql, bindings=bindings, abridge_sql_log=(sql | length > 65536)) %}
        {% if loop.index0 == 0 %}
            {% do statements.append(sql) %}
        {% endif %}
    {% endfor %}
    {{ return(statements[0]) }}
{% endmacro %}

{% macro duckdb__load_csv_rows(model, agate_table) %}
    {% if config.get('fast', true) %}
        {% set seed_file_path = adapter.get_seed_file_path(model) %}
        {% set delimiter = config.get('delimiter', ',') %}
        {% set sql %}
          COPY {{ this.render() }} FROM '{{ seed_file_path }}' (FORMAT CSV, HEADER TRUE, DELIMITER '{{ delimiter }}')
        {% endset %}
        {% set sql = lineage_governance.commented(sql, model) %}
        {% do adapter.add_query(sql) %}
        {{ return(sql) }}
    {% endif %}
    {% set agate_table = adapter.convert_datetimes_to_strs(agate_table) %}
    {{ return(lineage_governance.default__load_csv_rows(model, agate_table)) }}
{% endmacro %}
