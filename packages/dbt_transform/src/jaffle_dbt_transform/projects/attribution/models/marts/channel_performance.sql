-- Spend, sessions and attributed revenue per channel and day, with return on ad spend (ROAS)
-- under each attribution model. ROAS is null where nothing was spent (organic channels).

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
    )
}}

with

spend as (

    select
        spend_date as activity_date,
        channel,
        cast(sum(spend) as double precision) as spend

    from {{ ref('stg_marketing__ad_spend') }}
    {% if is_incremental() %}
    where {{ in_run_window('spend_date') }}
    {% endif %}
    group by 1, 2

),

sessions as (

    select
        session_date as activity_date,
        channel,
        count(*) as count_sessions

    from {{ ref('stg_marketing__web_sessions') }}
    {% if is_incremental() %}
    where {{ in_run_window('session_date') }}
    {% endif %}
    group by 1, 2

),

attributed as (

    select
        order_date as activity_date,
        channel,
        sum(first_touch_orders) as first_touch_orders,
        sum(last_touch_orders) as last_touch_orders,
        sum(linear_orders) as linear_orders,
        sum(first_touch_revenue) as first_touch_revenue,
        sum(last_touch_revenue) as last_touch_revenue,
        sum(linear_revenue) as linear_revenue

    from {{ ref('campaign_attribution') }}
    {% if is_incremental() %}
    where {{ in_run_window('order_date') }}
    {% endif %}
    group by 1, 2

),

keys as (

    select activity_date, channel from spend
    union
    select activity_date, channel from sessions
    union
    select activity_date, channel from attributed

),

final as (

    select
        keys.activity_date,
        keys.channel,
        coalesce(spend.spend, 0) as spend,
        coalesce(sessions.count_sessions, 0) as count_sessions,
        coalesce(attributed.first_touch_orders, 0) as first_touch_orders,
        coalesce(attributed.last_touch_orders, 0) as last_touch_orders,
        coalesce(attributed.linear_orders, 0) as linear_orders,
        coalesce(attributed.first_touch_revenue, 0) as first_touch_revenue,
        coalesce(attributed.last_touch_revenue, 0) as last_touch_revenue,
        coalesce(attributed.linear_revenue, 0) as linear_revenue,
        coalesce(attributed.first_touch_revenue, 0) / nullif(spend.spend, 0) as roas_first_touch,
        coalesce(attributed.last_touch_revenue, 0) / nullif(spend.spend, 0) as roas_last_touch,
        coalesce(attributed.linear_revenue, 0) / nullif(spend.spend, 0) as roas_linear

    from keys
    left join spend
        on keys.activity_date = spend.activity_date and keys.channel = spend.channel
    left join sessions
        on keys.activity_date = sessions.activity_date and keys.channel = sessions.channel
    left join attributed
        on keys.activity_date = attributed.activity_date and keys.channel = attributed.channel

)

select * from final
