{#-
  commented("insert into ...", model) -> "insert into ...\n/* <identity_comment(model)> */", as dbt's
  query-comment appends it. With bindings=true and the %s binding style (psycopg2), the comment's
  URL escapes (%3A) are doubled so the driver's formatting gives them back unchanged.
-#}
{% macro commented(sql, node, bindings=false) -%}
    {%- set comment = lineage_governance.identity_comment(node) -%}
    {%- if bindings and get_binding_char() == '%s' -%}{%- set comment = comment | replace('%', '%%') -%}{%- endif -%}
    {{ return((sql | trim) ~ '\n/* ' ~ comment ~ ' */') }}
{%- endmacro %}
