with

source as (

    select * from {{ source('jaffle_shop', 'products') }}

),

renamed as (

    select
        sku as product_id,
        product_name,
        product_type,
        {{ cents_to_dollars('price') }} as product_price,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        product_type = 'jaffle' as is_food_item,
        product_type = 'beverage' as is_drink_item

    from source

)

select * from renamed
