-- Synthetic customers and orders for the example pipeline (works on DuckDB and PostgreSQL).
create schema if not exists raw;
create schema if not exists mart;
create table if not exists raw.customers (
    id integer, full_name varchar, email varchar, ssn varchar, salary decimal(12,2), birth_date date, city varchar);
alter table raw.customers add column if not exists legacy_code varchar;
truncate raw.customers;
insert into raw.customers (id, full_name, email, ssn, salary, birth_date, city, legacy_code) values
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', 120000, '1990-12-10', 'London', 'L-1'),
    (2, 'Alan Turing', 'alan@example.org', '987-65-4321', 95000, '1985-06-23', 'Manchester', 'L-2'),
    (3, 'Grace Hopper', 'grace@example.net', '555-12-3456', 130000, '1978-12-09', 'London', 'L-3');
create table if not exists raw.orders (id integer, customer_id integer, amount decimal(12,2), ordered_at timestamp);
truncate raw.orders;
insert into raw.orders (id, customer_id, amount, ordered_at) values
    (10, 1, 25.50, '2024-01-02 10:00:00'), (11, 2, 12.00, '2024-01-03 11:00:00'),
    (12, 1, 40.00, '2024-01-04 09:30:00'), (13, 3, 99.90, '2024-01-05 16:45:00');
