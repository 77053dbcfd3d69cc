-- Touchpoints per order: the order's own web session and its customer's sessions in the lookback
-- window before it, each with its share of the order's revenue under first-touch, last-touch and
-- linear attribution. Orders with no web touch (walk-ins with no recent visit) have no rows.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='order_date',
    )
}}

with

orders as (

    select * from {{ ref('stg_jaffle_shop__orders') }}
    {% if is_incremental() %}
    where {{ in_run_window('order_date') }}
    {% endif %}

),

sessions as (

    select * from {{ ref('stg_marketing__web_sessions') }}
    {% if is_incremental() %}
    where {{ in_run_window('session_date', var('lookback_days')) }}
    {% endif %}

),

-- Two equi-joins, not one join on "same session or (same customer and in the lookback)": an OR in a
-- join condition leaves DuckDB a blockwise nested-loop join over every order and session pair (62 s
-- for 39k orders and 171k sessions against 0.3 s this way; the rows are the same). The union drops
-- the pairs both rules find (an order's own session inside its lookback).
touch_keys as (

    select orders.order_id, sessions.session_id
    from orders
    inner join sessions on sessions.session_id = orders.session_id

    union

    select orders.order_id, sessions.session_id
    from orders
    inner join sessions
        on sessions.customer_id = orders.customer_id
        and sessions.started_at <= orders.ordered_at
        and sessions.started_at > orders.ordered_at - interval '{{ var("lookback_days") }} days'

),

touches as (

    select
        orders.order_id,
        orders.order_date,
        orders.ordered_at,
        orders.revenue as order_revenue,
        sessions.session_id,
        sessions.started_at as touched_at,
        sessions.channel,
        coalesce(sessions.campaign, '(none)') as campaign

    from touch_keys
    inner join orders on orders.order_id = touch_keys.order_id
    inner join sessions on sessions.session_id = touch_keys.session_id

),

numbered as (

    select
        *,
        row_number() over (partition by order_id order by touched_at, session_id) as touch_number,
        count(*) over (partition by order_id) as count_touches

    from touches

),

final as (

    select
        order_id,
        order_date,
        ordered_at,
        session_id,
        touched_at,
        channel,
        campaign,
        touch_number,
        count_touches,
        -- double precision on every warehouse, so credits compare and sum the same everywhere
        cast(case when touch_number = 1 then 1 else 0 end as double precision) as first_touch_credit,
        cast(case when touch_number = count_touches then 1 else 0 end as double precision) as last_touch_credit,
        cast(1.0 / count_touches as double precision) as linear_credit,
        cast(case when touch_number = 1 then order_revenue else 0 end as double precision) as first_touch_revenue,
        cast(case when touch_number = count_touches then order_revenue else 0 end as double precision)
            as last_touch_revenue,
        cast(order_revenue as double precision) / count_touches as linear_revenue

    from numbered

)

select * from final
