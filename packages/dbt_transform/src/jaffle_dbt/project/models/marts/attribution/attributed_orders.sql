-- Last-touch and first-touch attribution of orders to marketing channels: an order's touches are the
-- customer's sessions in the 7 days up to the order (and the order's own session).

with

orders as (

    select * from {{ ref('stg_jaffle_shop__orders') }}

),

sessions as (

    select * from {{ ref('stg_marketing__web_sessions') }}

),

touches as (

    select
        orders.order_id,
        orders.ordered_at,
        orders.order_total,
        sessions.session_id,
        sessions.channel,
        sessions.campaign,
        sessions.started_at,
        row_number() over (partition by orders.order_id order by sessions.started_at desc, sessions.session_id)
            as touch_from_last,
        row_number() over (partition by orders.order_id order by sessions.started_at, sessions.session_id)
            as touch_from_first

    from orders
    inner join sessions
        on sessions.session_id = orders.session_id
        or (
            sessions.customer_id = orders.customer_id
            and sessions.started_at <= orders.ordered_at
            and sessions.started_at > orders.ordered_at - interval 7 day
        )

),

final as (

    select
        order_id,
        ordered_at,
        cast(ordered_at as date) as order_date,
        order_total,
        max(case when touch_from_last = 1 then channel end) as last_touch_channel,
        max(case when touch_from_last = 1 then campaign end) as last_touch_campaign,
        max(case when touch_from_first = 1 then channel end) as first_touch_channel,
        max(case when touch_from_first = 1 then campaign end) as first_touch_campaign,
        count(*) as count_touches

    from touches
    group by 1, 2, 3, 4

)

select * from final
