with

source as (

    select * from {{ source('jaffle_shop', 'supplies') }}

),

renamed as (

    select
        {{ dbt.concat(['supply_id', "'-'", 'sku']) }} as supply_uuid,
        supply_id,
        sku as product_id,
        supply_name,
        {{ cents_to_dollars('cost') }} as supply_cost,
        perishable as is_perishable_supply

    from source

)

select * from renamed
