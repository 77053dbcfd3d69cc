with

source as (

    select * from {{ source('marketing', 'web_sessions') }}

),

renamed as (

    select
        session_id,
        customer_id,
        cast(started_at as timestamp) as started_at,
        cast(started_at as date) as session_date,
        channel,
        campaign,
        utm_source,
        utm_medium,
        utm_campaign

    from source

)

select * from renamed
