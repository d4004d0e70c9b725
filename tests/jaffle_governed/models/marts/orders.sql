select
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    count(p.payment_id) as payments,
    coalesce(sum(p.amount), 0) as amount
from {{ ref('stg_orders', alias='o') }}
left join {{ ref('stg_payments', alias='p') }} on p.order_id = o.order_id
group by o.order_id, o.customer_id, o.order_date, o.status
