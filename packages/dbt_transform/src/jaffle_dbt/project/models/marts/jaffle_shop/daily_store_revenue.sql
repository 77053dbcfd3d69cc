with

orders as (

    select * from {{ ref('orders') }}

),

stores as (

    select * from {{ ref('stg_jaffle_shop__stores') }}

),

final as (

    select
        orders.order_date,
        orders.location_id,
        stores.location_name,
        count(*) as count_orders,
        sum(orders.subtotal) as revenue,
        sum(orders.order_total) as revenue_with_tax

    from orders
    left join stores on orders.location_id = stores.location_id
    group by 1, 2, 3

)

select * from final
