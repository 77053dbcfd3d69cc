with

source as (

    select * from {{ source('jaffle_shop', 'order_items') }}

),

renamed as (

    select
        order_item_id,
        order_id,
        sku as product_id,
        quantity,
        {{ cents_to_dollars('unit_price') }} as unit_price,
        cast(ordered_at as timestamp) as ordered_at,
        cast(ordered_at as date) as order_date

    from source

)

select * from renamed
