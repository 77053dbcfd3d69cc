with

stores as (

    select * from {{ ref('stg_jaffle_shop__stores') }}

),

final as (

    select
        location_id,
        location_name,
        tax_rate,
        opened_at,
        cast(opened_at as date) as opened_date

    from stores

)

select * from final
