with

source as (

    select * from {{ source('jaffle_shop', 'orders') }}

),

renamed as (

    select
        order_id,
        store_id as location_id,
        customer_id,
        session_id,
        cast(ordered_at as timestamp) as ordered_at,
        cast(ordered_at as date) as order_date,
        {{ cents_to_dollars('subtotal') }} as subtotal,
        {{ cents_to_dollars('tax_paid') }} as tax_paid,
        {{ cents_to_dollars('order_total') }} as order_total

    from source

)

select * from renamed
