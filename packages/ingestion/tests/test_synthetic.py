from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from faker.providers.person.en_US import Provider as PersonData
from jaffle_ingestion import synthetic

CONFIG = synthetic.ShopConfig(seed=7, orders_per_day=60, stores=4)


def test_a_day_is_the_same_whatever_else_is_generated():
    alone = synthetic.generate_day(CONFIG, date(2019, 3, 3))
    for day in synthetic.days(date(2019, 2, 20), date(2019, 3, 2)):
        synthetic.generate_day(CONFIG, day)
    again = synthetic.generate_day(CONFIG, date(2019, 3, 3))
    for table in ("orders", "order_items", "customers", "web_sessions", "ad_spend"):
        assert getattr(alone, table).equals(getattr(again, table)), table


def test_orders_add_up_and_reference_known_entities():
    day = synthetic.generate_day(CONFIG, date(2020, 6, 6))
    orders, items = day.orders, day.order_items
    assert len(orders) > 50
    assert orders["order_id"].is_unique and items["order_item_id"].is_unique
    assert set(items["order_id"]) == set(orders["order_id"])
    line_totals = (items["quantity"] * items["unit_price"]).groupby(items["order_id"]).sum()
    assert (orders.set_index("order_id")["subtotal"] == line_totals).all()
    assert (orders["order_total"] == orders["subtotal"] + orders["tax_paid"]).all()
    assert set(orders["store_id"]) <= set(synthetic.stores(CONFIG)["store_id"])
    # Every web order points at a session of the same day that the session table knows.
    web_orders = orders.dropna(subset=["session_id"])
    assert len(web_orders) > 0
    assert set(web_orders["session_id"]) <= set(day.web_sessions["session_id"])


def test_stores_open_over_time_and_weekends_sell_more():
    early = synthetic.generate_day(CONFIG, date(2016, 9, 10)).orders
    assert set(early["store_id"]) == {"store-001"}
    later = synthetic.generate_day(CONFIG, date(2018, 6, 1)).orders
    assert len(set(later["store_id"])) == 4
    week = synthetic.days(date(2019, 5, 6), date(2019, 6, 2))  # four Monday-Sunday weeks
    counts = {d: len(synthetic.generate_day(CONFIG, d).orders) for d in week}
    saturdays = sum(n for d, n in counts.items() if d.weekday() == 5)
    mondays = sum(n for d, n in counts.items() if d.weekday() == 0)
    assert saturdays > mondays * 1.2


def test_volume_knobs_reach_a_hundred_thousand_orders_a_day():
    config = synthetic.ShopConfig(orders_per_day=100_000, stores=50)
    day = date(2024, 5, 4)
    orders = synthetic.generate_day(config, day).orders
    expected = synthetic.expected_orders(config, day)
    assert expected > 100_000
    assert 0.7 * expected < len(orders) < 1.3 * expected
    assert orders["order_id"].is_unique


def test_marketing_spend_drives_orders():
    config = synthetic.ShopConfig(seed=3, orders_per_day=2000, stores=6)
    spend, paid_orders = [], []
    for day in synthetic.days(date(2023, 5, 1), date(2023, 6, 30)):
        generated = synthetic.generate_day(config, day)
        sessions = generated.web_sessions.set_index("session_id")
        paid = generated.orders.dropna(subset=["session_id"])
        medium = sessions.loc[paid["session_id"], "utm_medium"]
        spend.append(generated.ad_spend["spend"].sum())
        paid_orders.append(int(medium.isin(["cpc", "paid_social", "display"]).sum()))
    assert np.corrcoef(spend, paid_orders)[0, 1] > 0.5


def test_customer_names_come_from_faker_and_repeat_per_day():
    first = synthetic.generate_day(CONFIG, date(2022, 2, 2)).customers
    again = synthetic.generate_day(CONFIG, date(2022, 2, 2)).customers
    assert first.equals(again)
    given = first["customer_name"].str.split(" ").str[0]
    assert given.isin(list(PersonData.first_names)).all()
    assert first["customer_name"].nunique() > len(first) * 0.8


def test_customers_return():
    orders = synthetic.generate_day(CONFIG, date(2021, 4, 10)).orders
    returning = (
        orders["customer_id"].str.slice(5, 10).astype(int) < (date(2021, 4, 10) - synthetic.OPENING_DAY).days
    )
    assert 0.3 < returning.mean() < 0.9


def test_marketing_spend_buys_sessions():
    day = synthetic.generate_day(CONFIG, date(2020, 6, 6))
    paid = day.web_sessions[day.web_sessions["utm_medium"].isin(["cpc", "paid_social", "display"])]
    assert len(paid) > 0 and day.ad_spend["spend"].sum() > 0
    by_campaign = paid.groupby("campaign").size()
    assert set(by_campaign.index) == set(day.ad_spend["campaign"])


def test_prices_rise_every_january():
    assert synthetic.price_cents(1100, date(2016, 12, 31)) == 1100
    assert synthetic.price_cents(1100, date(2017, 1, 1)) == 1140


@pytest.mark.parametrize("bad", [{"stores": 0}, {"orders_per_day": 0}, {"orders_per_day": 2_000_000}])
def test_bad_knobs_are_rejected(bad):
    with pytest.raises(ValueError):
        synthetic.ShopConfig(**bad)


def test_days_before_opening_are_rejected_by_name():
    with pytest.raises(ValueError, match="before the first Jaffle Shop opened on 2016-09-01"):
        synthetic.generate_day(CONFIG, date(2016, 8, 31))
