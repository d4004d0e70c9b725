select
    c.city,
    count(distinct c.customer_id) as customers,
    count(o.order_id) as orders,
    coalesce(sum(o.amount), 0) as revenue
from {{ ref('stg_customers', alias='c') }}
left join {{ ref('fct_orders', alias='o') }} on o.customer_id = c.customer_id
group by c.city
