with orders as (
    select
        customer_id,
        count(*) as order_count,
        sum(amount) as lifetime_value,
        min(ordered_at) as first_order_on
    from {{ ref('stg_orders') }}
    group by customer_id
)

select
    c.customer_id,
    {{ lineage_governance.mask('c.email', 'email') }} as email,
    {{ lineage_governance.mask('c.ssn', 'show_last', chars=4) }} as ssn,
    extract(year from {{ lineage_governance.mask('c.birth_date', 'date_trunc', part='year', data_type='date') }}) as birth_year,
    c.city,
    coalesce(o.order_count, 0) as order_count,
    coalesce(o.lifetime_value, 0) as lifetime_value,
    o.first_order_on
from {{ ref('stg_customers', alias='c') }}
left join orders as o on o.customer_id = c.customer_id
