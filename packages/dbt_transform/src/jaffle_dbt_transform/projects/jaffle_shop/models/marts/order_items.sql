{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='order_date',
    )
}}

with

order_items as (

    select * from {{ ref('stg_jaffle_shop__order_items') }}
    {% if is_incremental() %}
    where {{ in_run_window('order_date') }}
    {% endif %}

),

products as (

    select * from {{ ref('products') }}

),

final as (

    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.order_date,
        order_items.ordered_at,
        order_items.product_id,
        products.product_name,
        products.product_type,
        order_items.quantity,
        order_items.unit_price,
        order_items.quantity * order_items.unit_price as line_total

    from order_items
    left join products on order_items.product_id = products.product_id

)

select * from final
