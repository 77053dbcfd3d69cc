-- Orders and revenue credited to each channel and campaign per day, under each attribution model.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='order_date',
    )
}}

with

touchpoints as (

    select * from {{ ref('order_touchpoints') }}
    {% if is_incremental() %}
    where {{ in_run_window('order_date') }}
    {% endif %}

),

final as (

    select
        order_date,
        channel,
        campaign,
        sum(first_touch_credit) as first_touch_orders,
        sum(last_touch_credit) as last_touch_orders,
        sum(linear_credit) as linear_orders,
        sum(first_touch_revenue) as first_touch_revenue,
        sum(last_touch_revenue) as last_touch_revenue,
        sum(linear_revenue) as linear_revenue

    from touchpoints
    group by 1, 2, 3

)

select * from final
