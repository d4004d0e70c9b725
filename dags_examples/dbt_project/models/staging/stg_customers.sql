-- depends_on: {{ builtins.ref('raw_customers') }}
select
    id as customer_id,
    first_name,
    last_name,
    email,
    ssn,
    birth_date,
    city
from {{ source('shop', 'customers') }}
