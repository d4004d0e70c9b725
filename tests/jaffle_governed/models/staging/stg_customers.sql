-- one row per customer; the governed ref() masks what this run's identity may not read raw
with customer_rows as (
    select * from {{ ref('raw_customers') }}
)

select
    id as customer_id,
    first_name,
    last_name,
    email
from customer_rows
