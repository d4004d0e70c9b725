-- A tour of what the policy decides, statement by statement.
select id, city from raw.customers where city = 'Lisbon';
select * from raw.customers;
insert into mart.customer_orders
  select c.id, c.email, c.city, count(o.id), sum(o.amount)
  from raw.customers c join raw.orders o on o.customer_id = c.id
  group by 1, 2, 3;
delete from raw.orders;
alter table raw.customers drop column birth_date;
drop table mart.customer_orders;
select * from query('select email from raw.customers');
selec * frm raw.customers;
