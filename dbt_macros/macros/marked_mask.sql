{#-
  marked_mask('<mask SQL>', 'c.email', 'email', 'pii.email') -> the mask with a marker that names it:

    case when 'lineage_mask?column=c.email&strategy=email&tag=pii.email' is not null then (<mask SQL>) end

  The condition is always true, so the value is the mask's; the marker lets `lineage dbt` read
  from the SQL that ran which masks it holds, for the ledger and the OpenLineage events
  (lineage/adapters/dbt/masks.py). It names the column, the strategy and the tag, never a value.
-#}
{% macro marked_mask(sql, column, strategy, tag) -%}
    {%- set marker = 'lineage_mask?column=' ~ (column | string | urlencode | replace("'", '%27')) ~ '&strategy=' ~ (strategy | string | urlencode) ~ '&tag=' ~ ((tag or '') | string | urlencode) -%}
    {{ return("case when '" ~ marker ~ "' is not null then (" ~ (sql | trim) ~ ") end") }}
{%- endmacro %}
