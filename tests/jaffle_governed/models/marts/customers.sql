-- a mart: names only masked here (the policy's zones keep raw names in raw_* and stg_*)
with named as (
    select
        c.customer_id,
        c.first_name,
        c.last_name,
        {{ lineage_governance.mask('c.email', 'email') }} as email
    from {{ ref('stg_customers', alias='c') }}
),

order_totals as (
    select
        o.customer_id,
        count(distinct o.order_id) as orders_placed,
        min(o.order_date) as first_ordered_on,
        sum(p.amount) as paid
    from {{ ref('stg_orders', alias='o') }}
    left join {{ ref('stg_payments', alias='p') }} on p.order_id = o.order_id
    group by o.customer_id
)

select
    n.customer_id,
    n.first_name,
    n.last_name,
    n.email,
    coalesce(t.orders_placed, 0) as orders_placed,
    t.first_ordered_on,
    coalesce(t.paid, 0) as lifetime_paid
from named as n
left join order_totals as t on t.customer_id = n.customer_id
