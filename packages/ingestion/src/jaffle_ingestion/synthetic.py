"""A deterministic synthetic Jaffle Shop: stores, menu, orders and the marketing that drives them.

Every day is generated from its own seed (the shop seed and the day's ordinal), never from state
carried between days, so any date range reproduces the same rows for a given day: a one-day run of
March 3 equals March 3 inside a ninety-day run. The shape is realistic enough for forecasting and
attribution to mean something: weekday and yearly seasonality, stores opening over time and growing
as they mature, returning customers, yearly price rises, and paid marketing whose daily budget buys
sessions that convert into orders. Everything is vectorized with numpy and pandas: the work per day
never loops in Python over rows (see bench/ingestion.py for rows per second).

Names and cities come from Faker's data (pinned by the lock), drawn with numpy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
from faker import Faker
from faker.providers.person.en_US import Provider as PersonData

# The first Jaffle Shop opened on this day; nothing happened before it.
OPENING_DAY = date(2016, 9, 1)
# Stores open one after another, this many days apart (closer together for big chains).
DAYS_BETWEEN_OPENINGS = 150
OPENINGS_SPAN_DAYS = 1800

# sku, name, type, price in cents on the opening day, share of order lines
MENU = [
    ("JAF-001", "nutellaphone who dis?", "jaffle", 1100, 0.16),
    ("JAF-002", "doctor stew", "jaffle", 1100, 0.12),
    ("JAF-003", "the krautback", "jaffle", 1200, 0.10),
    ("JAF-004", "flame impala", "jaffle", 1400, 0.10),
    ("JAF-005", "mel-bun", "jaffle", 1200, 0.08),
    ("BEV-001", "tangaroo", "beverage", 600, 0.12),
    ("BEV-002", "chai and mighty", "beverage", 500, 0.10),
    ("BEV-003", "vanilla ice", "beverage", 600, 0.08),
    ("BEV-004", "for richer or pourover", "beverage", 700, 0.08),
    ("BEV-005", "adele-ade", "beverage", 400, 0.06),
]

# supply id, name, cost in cents, perishable, skus that use it
SUPPLIES = [
    (
        "SUP-001",
        "compostable cutlery - knife",
        7,
        False,
        ["JAF-001", "JAF-002", "JAF-003", "JAF-004", "JAF-005"],
    ),
    ("SUP-002", "cutlery - fork", 7, False, ["JAF-001", "JAF-002", "JAF-003", "JAF-004", "JAF-005"]),
    ("SUP-003", "serving boat", 11, False, ["JAF-001", "JAF-002", "JAF-003", "JAF-004", "JAF-005"]),
    ("SUP-004", "napkin", 4, False, ["JAF-001", "JAF-002", "JAF-003", "JAF-004", "JAF-005"]),
    ("SUP-005", "bread", 33, True, ["JAF-001", "JAF-002", "JAF-003", "JAF-004", "JAF-005"]),
    ("SUP-006", "nutella", 46, True, ["JAF-001"]),
    ("SUP-007", "beef stew", 169, True, ["JAF-002"]),
    ("SUP-008", "kraut", 60, True, ["JAF-003"]),
    ("SUP-009", "impala", 155, True, ["JAF-004"]),
    ("SUP-010", "bun", 42, True, ["JAF-005"]),
    ("SUP-011", "16oz compostable cup", 13, False, ["BEV-001", "BEV-002", "BEV-003", "BEV-004", "BEV-005"]),
    ("SUP-012", "tangerine", 20, True, ["BEV-001"]),
    ("SUP-013", "chai mix", 98, True, ["BEV-002"]),
    ("SUP-014", "vanilla syrup", 52, True, ["BEV-003"]),
    ("SUP-015", "coffee", 82, True, ["BEV-004"]),
    ("SUP-016", "lemonade mix", 34, True, ["BEV-005"]),
]

# channel, campaign, utm_source, utm_medium, cost per session in cents, conversion rate of its
# sessions, share of paid web orders it is budgeted to bring.
CAMPAIGNS = [
    ("paid_search", "brand", "google", "cpc", 90, 0.11, 0.35),
    ("paid_search", "generic", "google", "cpc", 140, 0.05, 0.25),
    ("paid_social", "jaffle_lovers", "instagram", "paid_social", 70, 0.035, 0.2),
    ("paid_social", "new_store", "facebook", "paid_social", 60, 0.03, 0.1),
    ("display", "retargeting", "adroll", "display", 45, 0.025, 0.1),
]
NEW_STORE_CAMPAIGN_DAYS = 90  # the new_store campaign runs while a store is this young
# channel, campaign, utm_source, utm_medium, conversion rate. Organic traffic costs nothing.
ORGANIC = [
    ("organic_search", None, "google", "organic", 0.08),
    ("direct", None, None, None, 0.12),
    ("email", "newsletter", "mailchimp", "email", 0.09),
]
TAX_RATES = np.array([0.04, 0.06, 0.0625, 0.07, 0.08, 0.0875])
WEB_SHARE = 0.45  # share of demand ordered online, after a web session
PAID_SHARE = 0.2  # share of demand that paid marketing brings in (part of WEB_SHARE)
RETURNING_SHARE = 0.6  # share of orders from customers seen before
LOGGED_IN_SHARE = 0.3  # share of non-ordering sessions whose visitor is a known customer
TWEET_SHARE = 0.05  # share of orders whose customer posts about it, within the hour
FEELINGS = ("my favorite", "awesome", "so good", "the best in town", "overrated", "a bit cold today")


@dataclass(frozen=True)
class ShopConfig:
    """The knobs of the synthetic shop; the same config and day always give the same rows."""

    seed: int = 42
    # Orders on an average day once every store is open and mature (before seasonality).
    orders_per_day: int = 1000
    stores: int = 6

    def __post_init__(self) -> None:
        if not 1 <= self.stores <= 1000:
            raise ValueError(f"stores must be between 1 and 1000, got {self.stores}")
        if not 1 <= self.orders_per_day <= 1_000_000:
            raise ValueError(f"orders_per_day must be between 1 and 1000000, got {self.orders_per_day}")


def check_day(day: date) -> None:
    """Reject days the shop cannot have data for, naming the problem."""
    if day < OPENING_DAY:
        raise ValueError(
            f"{day.isoformat()} is before the first Jaffle Shop opened on {OPENING_DAY.isoformat()}: "
            "there is no data to ingest for it"
        )


def _rng(config: ShopConfig, day: date, stream: str) -> np.random.Generator:
    # A stable 64-bit key per (shop seed, day, stream); Python's hash() is salted per process.
    key = hashlib.sha256(f"{config.seed}:{day.toordinal()}:{stream}".encode()).digest()
    return np.random.default_rng(int.from_bytes(key[:8], "little"))


@lru_cache(maxsize=64)
def _opening_days(config: ShopConfig) -> np.ndarray:
    """Ordinal day each store opens."""
    gap = min(DAYS_BETWEEN_OPENINGS, OPENINGS_SPAN_DAYS // config.stores)
    return OPENING_DAY.toordinal() + gap * np.arange(config.stores)


@lru_cache(maxsize=64)
def _stores(config: ShopConfig) -> pd.DataFrame:
    fake = Faker("en_US")
    fake.seed_instance(config.seed)
    names = [fake.unique.city() for _ in range(config.stores)]
    opened = pd.to_datetime([date.fromordinal(int(o)) for o in _opening_days(config)]) + pd.Timedelta(hours=8)
    rng = np.random.default_rng(config.seed)
    return pd.DataFrame(
        {
            "store_id": [f"store-{i + 1:03d}" for i in range(config.stores)],
            "store_name": names,
            "opened_at": opened.astype("datetime64[us]"),
            "tax_rate": rng.choice(TAX_RATES, config.stores),
        }
    )


def stores(config: ShopConfig) -> pd.DataFrame:
    """Every store the shop will ever have, with the day it opens."""
    return _stores(config).copy()


def price_cents(base_cents: int, day: date) -> int:
    """Menu prices rise 4% every January 1st, rounded to ten cents."""
    years = max(0, day.year - OPENING_DAY.year)
    return int(round(base_cents * 1.04**years / 10) * 10)


def products() -> pd.DataFrame:
    """The menu with its price history: one row per product and price-validity year."""
    rows = []
    for sku, name, kind, base, _ in MENU:
        for year in range(OPENING_DAY.year, OPENING_DAY.year + 30):
            valid_from = max(date(year, 1, 1), OPENING_DAY)
            rows.append(
                {
                    "sku": sku,
                    "product_name": name,
                    "product_type": kind,
                    "price": price_cents(base, valid_from),
                    "valid_from": valid_from,
                    "valid_to": date(year + 1, 1, 1),
                }
            )
    return pd.DataFrame(rows)


def supplies() -> pd.DataFrame:
    """What each product consumes and what it costs."""
    return pd.DataFrame(
        [
            {"supply_id": sid, "supply_name": name, "cost": cost, "perishable": perishable, "sku": sku}
            for sid, name, cost, perishable, skus in SUPPLIES
            for sku in skus
        ]
    )


def seasonality(day: date) -> float:
    """Weekday and yearly rhythm of demand: Fridays and summers sell more."""
    weekday = [0.85, 0.9, 0.95, 1.0, 1.15, 1.3, 1.2][day.weekday()]
    yearly = 1 + 0.18 * np.sin(2 * np.pi * (day.timetuple().tm_yday - 105) / 365.25)
    return float(weekday * yearly)


def store_maturity(config: ShopConfig, day: date) -> np.ndarray:
    """Per store: 0 before it opens, ramping up over ~3 months, growing towards 1 over ~2 years."""
    age = day.toordinal() - _opening_days(config)
    ramp = np.where(age >= 0, 1 - np.exp(-np.maximum(age, 0) / 30), 0.0)
    return ramp * (0.7 + 0.3 * (1 - np.exp(-np.maximum(age, 0) / 365)))


def expected_orders(config: ShopConfig, day: date) -> float:
    """Expected orders of a day, before marketing's day-to-day noise."""
    per_store = config.orders_per_day / config.stores
    return per_store * seasonality(day) * float(store_maturity(config, day).sum())


@lru_cache(maxsize=65536)
def new_customer_count(config: ShopConfig, day: date) -> int:
    """How many first-time customers a day brings; computable for any day without its orders."""
    if day < OPENING_DAY:
        return 0
    expected = expected_orders(config, day) * (1 - RETURNING_SHARE)
    return int(_rng(config, day, "new-customers").poisson(max(expected, 0.5)))


@lru_cache(maxsize=1)
def _names() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    first, last = PersonData.first_names, PersonData.last_names
    fw = np.fromiter(first.values(), float)
    lw = np.fromiter(last.values(), float)
    return np.array(list(first)), fw / fw.sum(), np.array(list(last)), lw / lw.sum()


def _customer_names(rng: np.random.Generator, n: int) -> np.ndarray:
    first, fw, last, lw = _names()
    picked = pd.Series(rng.choice(first, n, p=fw)) + " " + pd.Series(rng.choice(last, n, p=lw))
    return picked.to_numpy(dtype=object)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return (prefix + pd.Series(numbers, dtype="int64").astype(str).str.zfill(width)).to_numpy(dtype=object)


def _customer_ids(day_offsets: np.ndarray, indexes: np.ndarray) -> np.ndarray:
    left = pd.Series(day_offsets, dtype="int64").astype(str).str.zfill(5)
    right = pd.Series(indexes, dtype="int64").astype(str).str.zfill(6)
    return ("cust-" + left + "-" + right).to_numpy(dtype=object)


def _returning_customers(config: ShopConfig, day: date, rng: np.random.Generator, n: int) -> np.ndarray:
    """Pick n customers first seen on earlier days; recent customers come back more often."""
    history = (day - OPENING_DAY).days
    if n == 0 or history == 0:
        return np.array([], dtype=object)
    back = np.minimum(history, rng.exponential(120, n).astype(np.int64) + 1)
    past_offsets = history - back
    distinct = np.unique(past_offsets)
    counts = np.array([new_customer_count(config, OPENING_DAY + timedelta(days=int(o))) for o in distinct])
    count = counts[np.searchsorted(distinct, past_offsets)]
    known = count > 0
    index = (rng.random(n) * np.maximum(count, 1)).astype(np.int64)
    return _customer_ids(past_offsets[known], index[known])


@dataclass(frozen=True)
class Day:
    """One day of the shop: what each source would have recorded."""

    orders: pd.DataFrame
    order_items: pd.DataFrame
    customers: pd.DataFrame
    web_sessions: pd.DataFrame
    ad_spend: pd.DataFrame
    tweets: pd.DataFrame

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, name)


def _times(rng: np.random.Generator, day: date, n: int) -> np.ndarray:
    """Sorted times of day with lunch and dinner peaks, inside the opening hours (7:00-23:00)."""
    hours = np.where(rng.random(n) < 0.55, rng.normal(12.5, 1.3, n), rng.normal(18.5, 1.6, n))
    seconds = (np.clip(hours, 7, 22.99) * 3600).astype(np.int64)
    return np.datetime64(day, "us") + np.sort(seconds).astype("timedelta64[s]")


def _campaign_rows(config: ShopConfig, day: date, demand: float, rng: np.random.Generator) -> list[tuple]:
    """Today's paid campaigns: (channel, campaign, source, medium, spend cents, sessions, conversion)."""
    youngest = day.toordinal() - _opening_days(config)
    new_store_running = bool(((youngest >= 0) & (youngest < NEW_STORE_CAMPAIGN_DAYS)).any())
    rows = []
    for channel, campaign, source, medium, cost, conversion, share in CAMPAIGNS:
        if campaign == "new_store" and not new_store_running:
            continue
        # Marketing budgets for the orders it wants, with day-to-day noise that moves orders too.
        budget = demand * PAID_SHARE * share / conversion * cost
        spend = int(budget * rng.lognormal(0, 0.3))
        sessions = int(rng.poisson(spend / cost))
        rows.append((channel, campaign, source, medium, spend, sessions, conversion))
    return rows


def generate_day(config: ShopConfig, day: date) -> Day:
    """Generate every source table for one day, from that day's seed alone."""
    check_day(day)
    rng = _rng(config, day, "day")
    demand = expected_orders(config, day)
    shop = _stores(config)
    weights = store_maturity(config, day)
    open_ids = shop["store_id"].to_numpy()[weights > 0]
    open_p = weights[weights > 0] / weights[weights > 0].sum()

    # Web sessions: paid campaigns buy them, organic traffic follows demand.
    paid = _campaign_rows(config, day, demand, rng)
    groups = [(c, k, s, m, n, conv) for c, k, s, m, _, n, conv in paid]
    organic_orders = demand * (WEB_SHARE - PAID_SHARE)
    for channel, campaign, source, medium, conversion in ORGANIC:
        n = int(rng.poisson(organic_orders / len(ORGANIC) / conversion))
        groups.append((channel, campaign, source, medium, n, conversion))
    sizes = np.array([g[4] for g in groups], dtype=np.int64)
    group = np.repeat(np.arange(len(groups)), sizes)
    attrs = np.array([g[:4] for g in groups], dtype=object).reshape(len(groups), 4)
    order = rng.permutation(len(group))  # interleave channels before sorting by time
    group = group[order]
    started = _times(rng, day, len(group))
    converted = rng.random(len(group)) < np.array([g[5] for g in groups])[group]
    session_ids = _ids(f"sess-{day:%Y%m%d}-", np.arange(len(group)), 6)

    # Orders: web orders follow converting sessions, walk-ins make up the rest of demand.
    n_new = new_customer_count(config, day)
    web_idx = np.flatnonzero(converted)
    walk_ins = max(int(rng.poisson(demand * (1 - WEB_SHARE))), n_new - len(web_idx))
    ordered_at = np.concatenate(
        [
            started[web_idx] + rng.integers(60, 1800, len(web_idx)).astype("timedelta64[s]"),
            _times(rng, day, walk_ins),
        ]
    )
    # A session late at night may convert after midnight; the order still belongs to the session's day.
    ordered_at = np.minimum(ordered_at, np.datetime64(day + timedelta(days=1), "us") - np.timedelta64(1, "s"))
    order_session = np.concatenate([session_ids[web_idx], np.full(walk_ins, None, dtype=object)])
    n_orders = len(ordered_at)

    offset = (day - OPENING_DAY).days
    new_ids = _customer_ids(np.full(n_new, offset), np.arange(n_new))
    returning = _returning_customers(config, day, rng, n_orders - n_new)
    missing = n_orders - n_new - len(returning)  # returning picks that hit a day without customers
    fill = (
        new_ids[np.arange(missing) % n_new]
        if n_new
        else _customer_ids(np.full(missing, offset), np.zeros(missing))
    )
    customer_ids = rng.permutation(np.concatenate([new_ids, returning, fill]).astype(object))

    by_time = np.argsort(ordered_at, kind="stable")
    orders = pd.DataFrame(
        {
            "order_id": _ids(f"ord-{day:%Y%m%d}-", np.arange(n_orders), 6),
            "store_id": rng.choice(open_ids, n_orders, p=open_p),
            "customer_id": customer_ids,
            "ordered_at": ordered_at[by_time],
            "session_id": order_session[by_time],
        }
    )

    # Sessions of customers who ordered know them; some other visitors are logged in.
    session_customer = np.full(len(group), None, dtype=object)
    web_orders = orders.dropna(subset=["session_id"])
    session_customer[web_orders["session_id"].str.slice(-6).astype(np.int64).to_numpy()] = web_orders[
        "customer_id"
    ].to_numpy()
    logged_in = (session_customer == None) & (rng.random(len(group)) < LOGGED_IN_SHARE)  # noqa: E711
    if n_orders and logged_in.any():
        session_customer[logged_in] = rng.choice(customer_ids, int(logged_in.sum()))
    web_sessions = pd.DataFrame(
        {
            "session_id": session_ids,
            "started_at": started,
            "channel": attrs[group, 0] if len(group) else np.array([], dtype=object),
            "campaign": attrs[group, 1] if len(group) else np.array([], dtype=object),
            "utm_source": attrs[group, 2] if len(group) else np.array([], dtype=object),
            "utm_medium": attrs[group, 3] if len(group) else np.array([], dtype=object),
            "utm_campaign": attrs[group, 1] if len(group) else np.array([], dtype=object),
            "customer_id": session_customer,
        }
    )

    # Order lines at this year's prices; totals add up with each store's tax rate.
    skus = np.array([m[0] for m in MENU], dtype=object)
    shares = np.array([m[4] for m in MENU])
    prices = np.array([price_cents(m[3], day) for m in MENU], dtype=np.int64)
    lines = rng.integers(1, 5, n_orders)
    line_order = np.repeat(np.arange(n_orders), lines)
    line_no = np.arange(len(line_order)) - np.repeat(np.cumsum(lines) - lines, lines)
    sku_idx = rng.choice(len(skus), len(line_order), p=shares / shares.sum())
    quantity = rng.integers(1, 3, len(line_order))
    order_ids = orders["order_id"].to_numpy()
    items = pd.DataFrame(
        {
            "order_item_id": (
                pd.Series(order_ids[line_order]) + "-" + pd.Series(line_no).astype(str)
            ).to_numpy(dtype=object),
            "order_id": order_ids[line_order],
            "sku": skus[sku_idx],
            "quantity": quantity,
            "unit_price": prices[sku_idx],
            "ordered_at": orders["ordered_at"].to_numpy()[line_order],
        }
    )
    subtotal = np.bincount(line_order, weights=quantity * prices[sku_idx], minlength=n_orders).astype(
        np.int64
    )
    tax_rate = shop.set_index("store_id")["tax_rate"].reindex(orders["store_id"]).to_numpy()
    orders["subtotal"] = subtotal
    orders["tax_paid"] = np.round(subtotal * tax_rate).astype(np.int64)
    orders["order_total"] = orders["subtotal"] + orders["tax_paid"]

    customers = pd.DataFrame(
        {
            "customer_id": new_ids,
            "customer_name": _customer_names(rng, n_new),
            "first_seen_at": np.full(n_new, np.datetime64(day, "us")),
        }
    )
    ad_spend = pd.DataFrame(
        [
            {"spend_date": day, "channel": c, "campaign": k, "utm_source": s, "utm_medium": m, "spend": spend}
            for c, k, s, m, spend, _, _ in paid
        ],
        columns=["spend_date", "channel", "campaign", "utm_source", "utm_medium", "spend"],
    )
    return Day(
        orders=orders,
        order_items=items,
        customers=customers,
        web_sessions=web_sessions,
        ad_spend=ad_spend,
        tweets=_tweets(config, day, orders, items),
    )


def _tweets(config: ShopConfig, day: date, orders: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Posts by some of the day's customers about what they ordered (a stream of its own, so the other
    tables of a day are the same with or without it)."""
    rng = _rng(config, day, "tweets")
    posted = orders[rng.random(len(orders)) < TWEET_SHARE]
    n = len(posted)
    names = {sku: name for sku, name, *_ in MENU}
    first_line = items.drop_duplicates("order_id").set_index("order_id")["sku"].map(names)
    ordered = first_line.reindex(posted["order_id"]).to_numpy(dtype=object)
    feeling = rng.choice(np.array(FEELINGS, dtype=object), n)
    later = posted["ordered_at"].to_numpy() + rng.integers(60, 3600, n).astype("timedelta64[s]")
    end_of_day = np.datetime64(day + timedelta(days=1), "us") - np.timedelta64(1, "s")
    return pd.DataFrame(
        {
            "tweet_id": _ids(f"tw-{day:%Y%m%d}-", np.arange(n), 6),
            "customer_id": posted["customer_id"].to_numpy(dtype=object),
            "tweeted_at": np.minimum(later, end_of_day),
            "content": "Jaffles from the Jaffle Shop are " + feeling + "! Ordered a " + ordered + ".",
        }
    )


def days(start: date, end: date) -> list[date]:
    """Every day from start to end, both included."""
    if end < start:
        raise ValueError(f"end_date {end.isoformat()} is before start_date {start.isoformat()}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
