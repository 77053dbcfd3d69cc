with

source as (

    select * from {{ source('jaffle_shop', 'orders') }}

),

renamed as (

    select
        order_id,
        customer_id,
        session_id,
        ordered_at,
        order_date,
        subtotal as revenue

    from source

)

select * from renamed
