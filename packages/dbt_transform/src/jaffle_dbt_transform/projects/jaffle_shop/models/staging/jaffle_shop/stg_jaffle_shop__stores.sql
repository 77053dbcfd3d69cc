with

source as (

    select * from {{ source('jaffle_shop', 'stores') }}

),

renamed as (

    select
        store_id as location_id,
        store_name as location_name,
        tax_rate,
        cast(opened_at as timestamp) as opened_at

    from source

)

select * from renamed
