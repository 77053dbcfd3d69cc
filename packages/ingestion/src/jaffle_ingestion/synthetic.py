"""A deterministic synthetic Jaffle Shop: shops, menu, orders and the marketing that drives them.

Every day is generated from its own seed (the shop seed and the day's ordinal), never from state
carried between days, so any date range reproduces the same rows for a given day: a one-day run of
March 3 equals March 3 inside a ninety-day run. The shape is realistic enough for forecasting and
attribution to mean something: weekday and yearly seasonality, growth, stores opening over time,
returning customers, yearly price changes, and paid marketing that buys sessions that turn into orders.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

# The first Jaffle Shop opened on this day; nothing happened before it.
OPENING_DAY = date(2016, 9, 1)
# Stores open one after another, this many days apart.
DAYS_BETWEEN_OPENINGS = 150

CITIES = [
    "Philadelphia",
    "Brooklyn",
    "Chicago",
    "San Francisco",
    "New Orleans",
    "Los Angeles",
    "Seattle",
    "Austin",
    "Denver",
    "Boston",
    "Portland",
    "Atlanta",
    "Miami",
    "Minneapolis",
    "Nashville",
    "San Diego",
    "Pittsburgh",
    "Detroit",
    "Phoenix",
    "Salt Lake City",
]

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

# channel, campaign, utm_source, utm_medium, daily spend in cents per open store, cost per session
# in cents, conversion rate of its sessions. Organic channels cost nothing and convert better.
CAMPAIGNS = [
    ("paid_search", "brand", "google", "cpc", 2500, 90, 0.11),
    ("paid_search", "generic", "google", "cpc", 4000, 140, 0.05),
    ("paid_social", "jaffle_lovers", "instagram", "paid_social", 3000, 70, 0.035),
    ("paid_social", "new_store", "facebook", "paid_social", 2000, 60, 0.03),
    ("display", "retargeting", "adroll", "display", 1500, 45, 0.025),
]
ORGANIC = [
    ("organic_search", None, "google", "organic", 0.08),
    ("direct", None, None, None, 0.12),
    ("email", "newsletter", "mailchimp", "email", 0.09),
]
FIRST_NAMES = [
    "Ava",
    "Ben",
    "Chloe",
    "Dan",
    "Elena",
    "Femi",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Maya",
    "Nils",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
]
LAST_NAMES = [
    "Adams",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nguyen",
    "Okafor",
    "Patel",
    "Rossi",
    "Singh",
]

TAX_RATES = [0.04, 0.06, 0.0625, 0.07, 0.08, 0.0875]
WEB_SHARE = 0.45  # share of orders placed online, where a web session precedes the order
RETURNING_SHARE = 0.6  # share of orders from customers seen before


@dataclass(frozen=True)
class ShopConfig:
    """The knobs of the synthetic shop; the same config and day always give the same rows."""

    seed: int = 42
    orders_per_day: int = 120  # per mature store on an average day of the first year
    stores: int = 6

    def __post_init__(self) -> None:
        if not 1 <= self.stores <= 500:
            raise ValueError(f"stores must be between 1 and 500, got {self.stores}")
        if not 1 <= self.orders_per_day <= 100_000:
            raise ValueError(f"orders_per_day must be between 1 and 100000, got {self.orders_per_day}")


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


def stores(config: ShopConfig) -> pd.DataFrame:
    """Every store the shop will ever have, with the day it opens."""
    rows = []
    for i in range(config.stores):
        city = CITIES[i % len(CITIES)]
        suffix = "" if i < len(CITIES) else f" {i // len(CITIES) + 1}"
        rows.append(
            {
                "store_id": f"store-{i + 1:03d}",
                "store_name": f"{city}{suffix}",
                "opened_at": datetime.combine(
                    OPENING_DAY + timedelta(days=i * DAYS_BETWEEN_OPENINGS), time(8)
                ),
                "tax_rate": TAX_RATES[i % len(TAX_RATES)],
            }
        )
    return pd.DataFrame(rows)


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


def _seasonality(day: date) -> float:
    weekday = [0.85, 0.9, 0.95, 1.0, 1.15, 1.3, 1.2][day.weekday()]
    yearly = 1 + 0.18 * math.sin(2 * math.pi * (day.timetuple().tm_yday - 105) / 365.25)
    return weekday * yearly


def _store_maturity(day: date, opened: date) -> float:
    # A new store ramps up over its first ~90 days, then grows 12% a year.
    age = (day - opened).days
    if age < 0:
        return 0.0
    ramp = 1 - math.exp(-age / 30)
    return ramp * 1.12 ** (age / 365.25)


def _open_store_weights(config: ShopConfig, day: date, frame: pd.DataFrame) -> np.ndarray:
    return np.array([_store_maturity(day, opened.date()) for opened in frame["opened_at"]])


@lru_cache(maxsize=65536)
def new_customer_count(config: ShopConfig, day: date) -> int:
    """How many first-time customers a day brings; computable for any day without its orders."""
    if day < OPENING_DAY:
        return 0
    weights = _open_store_weights(config, day, stores(config))
    expected = config.orders_per_day * _seasonality(day) * weights.sum() * (1 - RETURNING_SHARE)
    return int(_rng(config, day, "new-customers").poisson(max(expected, 0.5)))


def _customer_id(day: date, index: int) -> str:
    return f"cust-{(day - OPENING_DAY).days:05d}-{index:05d}"


def _pick_returning(config: ShopConfig, day: date, rng: np.random.Generator, n: int) -> list[str]:
    history = (day - OPENING_DAY).days
    picked: list[str] = []
    while len(picked) < n and history > 0:
        # Recent customers come back more often than old ones.
        back = min(history, int(rng.exponential(120)) + 1)
        past = day - timedelta(days=back)
        count = new_customer_count(config, past)
        if count:
            picked.append(_customer_id(past, int(rng.integers(count))))
    return picked


@dataclass(frozen=True)
class Day:
    """One day of the shop: what each source would have recorded."""

    orders: pd.DataFrame
    order_items: pd.DataFrame
    customers: pd.DataFrame
    web_sessions: pd.DataFrame
    ad_spend: pd.DataFrame


def _timestamps(rng: np.random.Generator, day: date, n: int, opening_hour: int = 7) -> list[datetime]:
    # Lunch and dinner peaks inside the opening hours.
    hours = np.clip(
        np.where(rng.random(n) < 0.55, rng.normal(12.5, 1.3, n), rng.normal(18.5, 1.6, n)),
        opening_hour,
        22.99,
    )
    seconds = (hours * 3600).astype(int)
    start = datetime.combine(day, time())
    return sorted(start + timedelta(seconds=int(s)) for s in seconds)


def generate_day(config: ShopConfig, day: date) -> Day:
    """Generate every source table for one day, from that day's seed alone."""
    check_day(day)
    shop = stores(config)
    weights = _open_store_weights(config, day, shop)
    open_mask = weights > 0
    open_ids = shop.loc[open_mask, "store_id"].to_numpy()
    open_weights = weights[open_mask] / weights[open_mask].sum()
    tax = dict(zip(shop["store_id"], shop["tax_rate"], strict=True))
    demand = config.orders_per_day * _seasonality(day) * weights.sum()
    rng = _rng(config, day, "day")

    # Marketing: spend per campaign scales with the open stores and wobbles day to day.
    spend_rows, session_rows = [], []
    for channel, campaign, source, medium, spend_per_store, cost_per_session, conversion in CAMPAIGNS:
        scale = open_mask.sum() * config.orders_per_day / ShopConfig.orders_per_day
        spend = int(spend_per_store * scale * rng.lognormal(0, 0.25))
        spend_rows.append(
            {
                "spend_date": day,
                "channel": channel,
                "campaign": campaign,
                "utm_source": source,
                "utm_medium": medium,
                "spend": spend,
            }
        )
        sessions = rng.poisson(spend / cost_per_session)
        session_rows.append((channel, campaign, source, medium, conversion, sessions))
    organic_orders = demand * WEB_SHARE * 0.5
    for channel, campaign, source, medium, conversion in ORGANIC:
        sessions = rng.poisson(organic_orders / len(ORGANIC) / conversion)
        session_rows.append((channel, campaign, source, medium, conversion, sessions))

    sessions_frames = []
    for channel, campaign, source, medium, conversion, n in session_rows:
        if n == 0:
            continue
        sessions_frames.append(
            pd.DataFrame(
                {
                    "channel": channel,
                    "campaign": campaign,
                    "utm_source": source,
                    "utm_medium": medium,
                    "utm_campaign": campaign,
                    "converted": rng.random(n) < conversion,
                }
            )
        )
    web = pd.concat(sessions_frames, ignore_index=True) if sessions_frames else pd.DataFrame()
    web["started_at"] = _timestamps(rng, day, len(web))
    web = web.sort_values("started_at", kind="stable").reset_index(drop=True)
    web.insert(0, "session_id", [f"sess-{day:%Y%m%d}-{i:06d}" for i in range(len(web))])

    # Orders: web orders come from converting sessions, walk-ins from the rest of the demand.
    web_orders = web.loc[web["converted"]]
    walk_ins = int(rng.poisson(demand * (1 - WEB_SHARE)))
    n_orders = len(web_orders) + walk_ins
    order_times = list(
        web_orders["started_at"] + pd.to_timedelta(rng.integers(60, 1800, len(web_orders)), "s")
    )
    order_times += _timestamps(rng, day, walk_ins)
    session_ids = list(web_orders["session_id"]) + [None] * walk_ins

    n_new = new_customer_count(config, day)
    new_ids = [_customer_id(day, i) for i in range(n_new)]
    returning = _pick_returning(config, day, rng, max(n_orders - n_new, 0))
    customer_ids = (new_ids + returning)[:n_orders]
    customer_ids += [
        new_ids[i % n_new] if n_new else _customer_id(day, 0) for i in range(n_orders - len(customer_ids))
    ]
    customer_ids = list(rng.permutation(np.array(customer_ids, dtype=object))) if n_orders else []

    orders = pd.DataFrame(
        {
            "store_id": rng.choice(open_ids, size=n_orders, p=open_weights) if n_orders else [],
            "customer_id": customer_ids,
            "ordered_at": order_times,
            "session_id": session_ids,
        }
    )
    orders = orders.sort_values("ordered_at", kind="stable").reset_index(drop=True)
    orders.insert(0, "order_id", [f"ord-{day:%Y%m%d}-{i:06d}" for i in range(len(orders))])

    # Logged-in sessions know their customer; the rest are anonymous until they order.
    known = orders.dropna(subset=["session_id"]).set_index("session_id")["customer_id"]
    web["customer_id"] = web["session_id"].map(known)
    anonymous = web["customer_id"].isna() & (rng.random(len(web)) < 0.3)
    if anonymous.any() and len(orders):
        web.loc[anonymous, "customer_id"] = rng.choice(orders["customer_id"].to_numpy(), anonymous.sum())
    web = web.drop(columns="converted")

    skus = np.array([m[0] for m in MENU])
    shares = np.array([m[4] for m in MENU])
    prices = {sku: price_cents(base, day) for sku, _, _, base, _ in MENU}
    lines_per_order = rng.integers(1, 5, len(orders))
    item_orders = np.repeat(orders["order_id"].to_numpy(), lines_per_order)
    item_skus = rng.choice(skus, size=len(item_orders), p=shares / shares.sum())
    items = pd.DataFrame(
        {
            "order_item_id": [
                f"{oid}-{i}"
                for oid, n in zip(orders["order_id"], lines_per_order, strict=True)
                for i in range(n)
            ],
            "order_id": item_orders,
            "sku": item_skus,
            "quantity": rng.integers(1, 3, len(item_orders)),
        }
    )
    items["unit_price"] = items["sku"].map(prices).astype("int64")
    subtotal = (items["quantity"] * items["unit_price"]).groupby(items["order_id"]).sum()
    orders["subtotal"] = orders["order_id"].map(subtotal).astype("int64")
    orders["tax_paid"] = (orders["subtotal"] * orders["store_id"].map(tax)).round().astype("int64")
    orders["order_total"] = orders["subtotal"] + orders["tax_paid"]

    customers = pd.DataFrame(
        {
            "customer_id": new_ids,
            "customer_name": [
                f"{FIRST_NAMES[h % len(FIRST_NAMES)]} {LAST_NAMES[(h // 7) % len(LAST_NAMES)]}"
                for h in rng.integers(0, 1_000_000, n_new)
            ],
            "first_seen_at": datetime.combine(day, time()),
        }
    )
    return Day(
        orders=orders,
        order_items=items,
        customers=customers,
        web_sessions=web,
        ad_spend=pd.DataFrame(spend_rows),
    )


def days(start: date, end: date) -> list[date]:
    """Every day from start to end, both included."""
    if end < start:
        raise ValueError(f"end_date {end.isoformat()} is before start_date {start.isoformat()}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
