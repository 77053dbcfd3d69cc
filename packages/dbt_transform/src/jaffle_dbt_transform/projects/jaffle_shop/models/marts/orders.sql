{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='order_date',
    )
}}

with

orders as (

    select * from {{ ref('stg_jaffle_shop__orders') }}
    {% if is_incremental() %}
    where {{ in_run_window('order_date') }}
    {% endif %}

),

order_items as (

    select * from {{ ref('order_items') }}
    {% if is_incremental() %}
    where {{ in_run_window('order_date') }}
    {% endif %}

),

order_items_summary as (

    select
        order_id,
        cast(sum(quantity) as bigint) as count_items,
        cast(sum(case when product_type = 'jaffle' then quantity else 0 end) as bigint) as count_food_items,
        cast(sum(case when product_type = 'beverage' then quantity else 0 end) as bigint)
            as count_drink_items,
        sum(line_total) as items_total

    from order_items
    group by 1

),

final as (

    select
        orders.*,
        coalesce(order_items_summary.count_items, 0) as count_items,
        coalesce(order_items_summary.count_food_items, 0) as count_food_items,
        coalesce(order_items_summary.count_drink_items, 0) as count_drink_items,
        coalesce(order_items_summary.count_food_items, 0) > 0 as is_food_order,
        coalesce(order_items_summary.count_drink_items, 0) > 0 as is_drink_order,
        orders.session_id is not null as is_web_order

    from orders
    left join order_items_summary on orders.order_id = order_items_summary.order_id

)

select * from final
