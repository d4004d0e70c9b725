{#-
  type_family('character varying(40)') -> 'text'. The families the core's strategies tell
  apart (lineage/mask/strategies/_common.py): text, integer, number, boolean, date,
  timestamp, time, uuid, json, or 'other'; none for an unknown type.
-#}
{% macro type_family(data_type) -%}
    {%- if data_type is none or (data_type | trim) == '' -%}{{ return(none) }}{%- endif -%}
    {%- set base = (data_type | lower | trim).split('(')[0] | trim -%}
    {%- if base in ['text', 'varchar', 'character varying', 'char', 'character', 'string', 'bpchar', 'nvarchar', 'nchar', 'name', 'citext'] -%}
        {{ return('text') }}
    {%- elif base in ['tinyint', 'smallint', 'int', 'integer', 'bigint', 'int1', 'int2', 'int4', 'int8', 'int16', 'int32', 'int64', 'hugeint', 'utinyint', 'usmallint', 'uinteger', 'ubigint', 'serial', 'bigserial', 'smallserial'] -%}
        {{ return('integer') }}
    {%- elif base in ['numeric', 'decimal', 'number', 'real', 'float', 'float4', 'float8', 'double', 'double precision', 'bignumeric', 'float64'] -%}
        {{ return('number') }}
    {%- elif base in ['boolean', 'bool'] -%}
        {{ return('boolean') }}
    {%- elif base in ['date', 'date32'] -%}
        {{ return('date') }}
    {%- elif base.startswith('timestamp') or base in ['datetime', 'timestamptz', 'timestamp_ntz', 'timestamp_ltz', 'timestamp_tz'] -%}
        {{ return('timestamp') }}
    {%- elif base.startswith('time') -%}
        {{ return('time') }}
    {%- elif base == 'uuid' -%}
        {{ return('uuid') }}
    {%- elif base in ['json', 'jsonb'] -%}
        {{ return('json') }}
    {%- endif -%}
    {{ return('other') }}
{%- endmacro %}
