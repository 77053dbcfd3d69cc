with

orders as (

    select * from {{ ref('stg_jaffle_shop__orders') }}

),

order_items as (

    select * from {{ ref('stg_jaffle_shop__order_items') }}

),

products as (

    -- Prices change yearly; the product type does not.
    select distinct product_id, is_food_item, is_drink_item
    from {{ ref('stg_jaffle_shop__products') }}

),

order_items_summary as (

    select
        order_items.order_id,
        sum(order_items.quantity) as count_items,
        sum(case when products.is_food_item then order_items.quantity else 0 end) as count_food_items,
        sum(case when products.is_drink_item then order_items.quantity else 0 end) as count_drink_items

    from order_items
    left join products
        on order_items.product_id = products.product_id
    group by 1

),

final as (

    select
        orders.*,
        order_items_summary.count_items,
        order_items_summary.count_food_items,
        order_items_summary.count_drink_items,
        order_items_summary.count_food_items > 0 as is_food_order,
        order_items_summary.count_drink_items > 0 as is_drink_order,
        row_number() over (partition by orders.customer_id order by orders.ordered_at, orders.order_id)
            as customer_order_number

    from orders
    left join order_items_summary on orders.order_id = order_items_summary.order_id

)

select * from final
