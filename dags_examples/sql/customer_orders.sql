-- The mart: reads the classified raw.customers, so email is masked for the run's identity.
create table if not exists mart.customer_orders (
    customer_id integer, email varchar, city varchar, order_count bigint, revenue decimal(18,2));
truncate mart.customer_orders;
insert into mart.customer_orders
select c.id, c.email, c.city, count(o.id), sum(o.amount)
from raw.customers c join raw.orders o on o.customer_id = c.id
group by c.id, c.email, c.city;
