-- One row per customer who ordered, with lifetime value. Rebuilt whole: it spans every day.

with

orders as (

    select * from {{ ref('orders') }}

),

customers as (

    select * from {{ ref('stg_jaffle_shop__customers') }}

),

customer_orders as (

    select
        customer_id,
        count(*) as count_lifetime_orders,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        sum(order_total) as lifetime_spend

    from orders
    group by 1

),

final as (

    select
        customer_orders.customer_id,
        customers.customer_name,
        customers.first_seen_at,
        customer_orders.count_lifetime_orders,
        customer_orders.first_ordered_at,
        customer_orders.last_ordered_at,
        customer_orders.lifetime_spend,
        case when customer_orders.count_lifetime_orders > 1 then 'returning' else 'new' end
            as customer_type

    from customer_orders
    left join customers on customer_orders.customer_id = customers.customer_id

)

select * from final
