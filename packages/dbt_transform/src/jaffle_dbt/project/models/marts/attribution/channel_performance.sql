-- Spend, sessions, last-touch orders and revenue per channel and campaign per day, with ROAS.

with

spend as (

    select * from {{ ref('stg_marketing__ad_spend') }}

),

sessions as (

    select
        session_date as activity_date,
        channel,
        coalesce(campaign, '(none)') as campaign,
        count(*) as count_sessions

    from {{ ref('stg_marketing__web_sessions') }}
    group by 1, 2, 3

),

attributed as (

    select
        order_date as activity_date,
        last_touch_channel as channel,
        coalesce(last_touch_campaign, '(none)') as campaign,
        count(*) as count_orders,
        sum(order_total) as revenue

    from {{ ref('attributed_orders') }}
    group by 1, 2, 3

),

spend_by_day as (

    select spend_date as activity_date, channel, campaign, sum(spend) as spend
    from spend
    group by 1, 2, 3

),

keys as (

    select activity_date, channel, campaign from spend_by_day
    union
    select activity_date, channel, campaign from sessions
    union
    select activity_date, channel, campaign from attributed

),

final as (

    select
        keys.activity_date,
        keys.channel,
        keys.campaign,
        coalesce(spend_by_day.spend, 0) as spend,
        coalesce(sessions.count_sessions, 0) as count_sessions,
        coalesce(attributed.count_orders, 0) as count_orders,
        coalesce(attributed.revenue, 0) as revenue,
        case when spend_by_day.spend > 0 then coalesce(attributed.revenue, 0) / spend_by_day.spend end
            as return_on_ad_spend

    from keys
    left join sessions using (activity_date, channel, campaign)
    left join spend_by_day using (activity_date, channel, campaign)
    left join attributed using (activity_date, channel, campaign)

)

select * from final
