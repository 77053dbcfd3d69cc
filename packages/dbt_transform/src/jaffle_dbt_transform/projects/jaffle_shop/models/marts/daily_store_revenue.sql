-- Orders, items and revenue per store and day: the ML team's forecasting input.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='order_date',
    )
}}

with

orders as (

    select * from {{ ref('orders') }}
    {% if is_incremental() %}
    where {{ in_run_window('order_date') }}
    {% endif %}

),

stores as (

    select * from {{ ref('stores') }}

),

final as (

    select
        orders.order_date,
        orders.location_id,
        stores.location_name,
        count(*) as count_orders,
        cast(sum(orders.count_items) as bigint) as count_items,
        sum(orders.subtotal) as revenue,
        sum(orders.order_total) as revenue_with_tax

    from orders
    left join stores on orders.location_id = stores.location_id
    group by 1, 2, 3

)

select * from final
