-- depends_on: {{ builtins.ref('raw_orders') }}
select * from {{ source('shop', 'orders') }}
