with

source as (

    select * from {{ source('marketing', 'ad_spend') }}

),

renamed as (

    select
        cast(spend_date as date) as spend_date,
        channel,
        campaign,
        utm_source,
        utm_medium,
        {{ cents_to_dollars('spend') }} as spend

    from source

)

select * from renamed
