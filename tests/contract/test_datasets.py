"""The hand-overs between teams: every consumed column exists, with a readable type, in its producer's
declaration (each team's `src/<package>/datasets.toml`).

Runs in every team's environment (and the coordinator's), so a producer whose change breaks a
consumer fails its own CI, with the consumers it breaks named; a consumer that starts reading a
column nobody declares fails its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from jaffle_contract import contracts

ROOT = Path(__file__).resolve().parents[2]
DECLARED = contracts.load_all(ROOT)
HANDOVERS = [(team.team, consumed.name) for team in DECLARED for consumed in team.consumes]


@pytest.mark.parametrize(("consumer", "dataset"), HANDOVERS, ids=[f"{d}->{c}" for c, d in HANDOVERS])
def test_every_column_a_team_reads_is_declared_by_its_producer_with_a_readable_type(consumer, dataset):
    problems = [p for p in contracts.check(DECLARED) if (p.consumer, p.dataset) == (consumer, dataset)]
    assert not problems, "a breaking change between teams:\n" + "\n".join(f"- {p}" for p in problems)


def _with_declaration(team: str, dataset: str, columns) -> list[contracts.Declarations]:
    """The platform's declarations with one produced dataset's columns replaced."""
    changed = []
    for declared in DECLARED:
        if declared.team == team:
            produces = tuple(
                d.model_copy(update={"columns": tuple(columns(d.columns))}) if d.name == dataset else d
                for d in declared.produces
            )
            declared = declared.model_copy(update={"produces": produces})
        changed.append(declared)
    return changed


def test_dropping_a_consumed_column_names_every_consumer_it_breaks_and_adding_one_breaks_nobody():
    dropped = _with_declaration(
        "dbt-transform", "jaffle_shop.daily_store_revenue", lambda cs: [c for c in cs if c.name != "revenue"]
    )
    broken = {(p.consumer, p.dataset, p.column, p.producer) for p in contracts.check(dropped)}
    assert broken == {
        ("ml-forecast", "jaffle_shop.daily_store_revenue", "revenue", "dbt-transform"),
        ("dashboards", "jaffle_shop.daily_store_revenue", "revenue", "dbt-transform"),
    }
    added = _with_declaration(
        "ingestion",
        "raw.jaffle_shop.orders",
        lambda cs: [*cs, contracts.Column(name="coupon_code", type="string")],
    )
    assert contracts.check(added) == []


def test_retyping_a_consumed_column_breaks_its_readers_and_widening_to_what_they_read_does_not():
    def retype(kind):
        return lambda cs: [c.model_copy(update={"type": kind}) if c.name == "subtotal" else c for c in cs]

    as_text = contracts.check(_with_declaration("ingestion", "raw.jaffle_shop.orders", retype("string")))
    assert [str(p) for p in as_text] == [
        "dbt-transform reads raw.jaffle_shop.orders.subtotal (produced by ingestion): declared string, "
        "read as int64"
    ]
    # dashboards reads the orders mart's subtotal as float64: a mart holding whole cents still serves.
    assert contracts.check(_with_declaration("dbt-transform", "jaffle_shop.orders", retype("int64"))) == []
