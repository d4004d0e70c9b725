{#-
  mask_key('hash', 'pii.ssn') -> ['<inner pad hex>', '<outer pad hex>'].

  The key of a keyed strategy for one tag: HMAC-SHA256(master key, "lineage-governance mask
  v1" | strategy | tag), derived by `lineage dbt` (lineage/mask/keys.py) and handed over as
  the two HMAC pads in LINEAGE_DBT_PLAN. The master key never reaches dbt, its compiled SQL
  or its logs; the derived pads do, exactly as they reach the database's statement log when
  the core masks (see docs/masking.md, "Keys"). Without them there is no keyed mask: a compiler
  error, never an unkeyed hash.

  A view keeps its SQL in the warehouse's catalog (duckdb_views(), pg_views), readable by masked
  identities, and would keep the pads with it (anyone could then recompute the mask of any
  candidate value): a model materialized as a view or materialized view, or an ephemeral one (its
  SQL is inlined into whichever model reads it), gets no key, as the core's rewrite refuses such views.
-#}
{% macro mask_key(strategy, tag) -%}
    {%- set materialized = (model.get('config') or {}).get('materialized') if model is defined and model is mapping else none -%}
    {%- if materialized in ('view', 'materialized_view', 'ephemeral') -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: " ~ model.get('unique_id', 'this model') ~ " is materialized as " ~ materialized ~ " and reads a column masked with the keyed strategy " ~ strategy ~ " (tag " ~ tag ~ "): its SQL would keep the masking key material where the warehouse shows it (view definitions); materialize it as a table (or incremental), or mask the tag with a strategy that needs no key") }}
    {%- endif -%}
    {%- if not tag -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: strategy " ~ strategy ~ " is keyed per classification tag: pass tag='pii.ssn' (for example)") }}
    {%- endif -%}
    {%- set pads = lineage_governance.lineage_plan().get('keys', {}).get(strategy ~ '|' ~ tag) -%}
    {%- if not pads -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: no key for " ~ strategy ~ " of tag " ~ tag ~ ": keyed strategies run only under `lineage dbt`, with masking.hash_key in the policy and the tag masked with " ~ strategy ~ " there") }}
    {%- endif -%}
    {{ return(pads) }}
{%- endmacro %}
