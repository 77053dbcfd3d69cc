with

source as (

    select * from {{ source('jaffle_shop', 'customers') }}

),

renamed as (

    select
        customer_id,
        customer_name,
        cast(first_seen_at as timestamp) as first_seen_at

    from source

),

-- The lake keeps customers by the day first seen: a customer landed again from files whose orders begin
-- later (a second export, a narrower window) is then in two days' partitions: one customer, first seen
-- at the earliest (DuckDB and PostgreSQL alike).
ranked as (

    select
        *,
        row_number() over (partition by customer_id order by first_seen_at, customer_name) as landing

    from renamed

)

select customer_id, customer_name, first_seen_at from ranked where landing = 1
