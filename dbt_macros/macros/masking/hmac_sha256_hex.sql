{#-
  hmac_sha256_hex(text, [inner, outer]) -> lower-case hex HMAC-SHA256 of the text, computed with
  the database's own SHA-256 (PostgreSQL needs no pgcrypto), as lineage/mask/strategies/_keyed.py:
  HMAC(k, m) = SHA256((k xor opad) || SHA256((k xor ipad) || m)).
-#}
{% macro hmac_sha256_hex(text, pads) -%}
    {{ return(adapter.dispatch('hmac_sha256_hex', 'lineage_governance')(text, pads)) }}
{%- endmacro %}

{% macro default__hmac_sha256_hex(text, pads) -%}
    {{ exceptions.raise_compiler_error("lineage_governance: keyed strategies (hash, pseudonym) have no SQL for adapter " ~ adapter.type() ~ " (known: postgres, duckdb, snowflake, bigquery)") }}
{%- endmacro %}

{% macro postgres__hmac_sha256_hex(text, pads) -%}
    encode(sha256(decode('{{ pads[1] }}', 'hex') || sha256(decode('{{ pads[0] }}', 'hex') || convert_to({{ text }}, 'UTF8'))), 'hex')
{%- endmacro %}

{% macro duckdb__hmac_sha256_hex(text, pads) -%}
    sha256(unhex('{{ pads[1] }}') || unhex(sha256(unhex('{{ pads[0] }}') || encode({{ text }}))))
{%- endmacro %}

{% macro snowflake__hmac_sha256_hex(text, pads) -%}
    sha2(to_binary('{{ pads[1] }}', 'HEX') || sha2_binary(to_binary('{{ pads[0] }}', 'HEX') || to_binary({{ text }}, 'UTF-8'), 256), 256)
{%- endmacro %}

{% macro bigquery__hmac_sha256_hex(text, pads) -%}
    to_hex(sha256(concat(from_hex('{{ pads[1] }}'), sha256(concat(from_hex('{{ pads[0] }}'), cast({{ text }} as bytes))))))
{%- endmacro %}
