{#-
  mask_arguments('show_last', {'chars': 4}) -> {'chars': 4}, or a compiler error naming the
  argument: the same checks as the core's lineage/mask/arguments.py.
-#}
{% macro mask_arguments(strategy, args) -%}
    {%- set spec = {
        'nullify': {}, 'type_default': {}, 'redact': {}, 'deny': {},
        'constant': {'value': true},
        'show_first': {'chars': true}, 'show_last': {'chars': true},
        'partial': {'prefix': true, 'suffix': true, 'pad': false},
        'email': {'mask_domain': false},
        'hash': {'length': false},
        'date_trunc': {'part': true},
        'pseudonym': {'prefix': false},
        'custom': {'expression': true},
    } -%}
    {%- if strategy not in spec -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: unknown masking strategy '" ~ strategy ~ "' (known: " ~ (spec.keys() | list | sort | join(', ')) ~ ")") }}
    {%- endif -%}
    {%- for name in args -%}
        {%- if name not in spec[strategy] -%}
            {{ exceptions.raise_compiler_error("lineage_governance.mask: strategy '" ~ strategy ~ "' takes no argument '" ~ name ~ "' (accepted: " ~ ((spec[strategy].keys() | list | sort | join(', ')) or 'none') ~ ")") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for name, required in spec[strategy].items() -%}
        {%- if required and name not in args -%}
            {{ exceptions.raise_compiler_error("lineage_governance.mask: strategy '" ~ strategy ~ "' needs the argument '" ~ name ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in ['chars', 'prefix', 'suffix', 'length'] -%}
        {%- if name in args and not (args[name] is number and args[name] is not sameas true and args[name] is not sameas false and args[name] >= 0 and (args[name] | int) == args[name]) -%}
            {%- if not (name == 'prefix' and strategy == 'pseudonym') -%}
                {{ exceptions.raise_compiler_error("lineage_governance.mask: argument '" ~ name ~ "' of '" ~ strategy ~ "' must be a non-negative integer, got " ~ args[name]) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if strategy in ['show_first', 'show_last'] and args['chars'] > 64 -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: " ~ strategy ~ " chars must be at most 64") }}
    {%- endif -%}
    {%- if strategy == 'hash' and 'length' in args and not (8 <= args['length'] <= 64) -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: hash length must be between 8 and 64 hex characters") }}
    {%- endif -%}
    {%- if strategy == 'date_trunc' and args['part'] not in ['year', 'month'] -%}
        {{ exceptions.raise_compiler_error("lineage_governance.mask: date_trunc part must be one of year, month, got '" ~ args['part'] ~ "'") }}
    {%- endif -%}
    {{ return(args) }}
{%- endmacro %}
