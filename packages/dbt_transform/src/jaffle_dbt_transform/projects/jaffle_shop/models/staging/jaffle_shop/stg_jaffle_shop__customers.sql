with

source as (

    select * from {{ source('jaffle_shop', 'customers') }}

),

renamed as (

    select
        customer_id,
        customer_name,
        cast(first_seen_at as timestamp) as first_seen_at

    from source

)

select * from renamed
