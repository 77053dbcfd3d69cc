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
        subtotal / 100.0 as subtotal,
        tax_paid / 100.0 as tax_paid,
        order_total / 100.0 as order_total

    from source

)

select * from renamed
