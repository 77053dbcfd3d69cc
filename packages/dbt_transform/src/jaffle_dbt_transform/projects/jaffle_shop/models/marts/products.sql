-- One row per product at its current (latest) price.

with

products as (

    select * from {{ ref('stg_jaffle_shop__products') }}

),

latest as (

    select
        *,
        row_number() over (partition by product_id order by valid_from desc) as price_recency

    from products

),

final as (

    select
        product_id,
        product_name,
        product_type,
        product_price,
        valid_from as price_valid_from,
        is_food_item,
        is_drink_item

    from latest
    where price_recency = 1

)

select * from final
