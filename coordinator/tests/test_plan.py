from __future__ import annotations

from datetime import date

import pytest
from jaffle_coordinator import plan


def test_window_defaults_to_yesterday_at_call_time():
    assert plan.resolve_window(None, None, today=date(2024, 3, 2)) == plan.Window(
        date(2024, 3, 1), date(2024, 3, 1)
    )
    assert plan.resolve_window(date(2024, 1, 5), None) == plan.Window(date(2024, 1, 5), date(2024, 1, 5))


def test_end_before_start_is_rejected():
    with pytest.raises(ValueError, match="end_date 2024-03-01 is before start_date 2024-03-05"):
        plan.resolve_window(date(2024, 3, 5), date(2024, 3, 1))


def test_chunks_cover_the_range_without_overlap():
    window = plan.Window(date(2024, 1, 1), date(2024, 1, 17))
    parts = plan.chunks(window, 7)
    assert [(p.start.day, p.end.day) for p in parts] == [(1, 7), (8, 14), (15, 17)]
    with pytest.raises(ValueError):
        plan.chunks(window, 0)


def test_each_child_waits_only_for_the_children_whose_datasets_it_reads():
    assert [c.name for c in plan.CHILDREN] == [
        "raw-data-jaffle-shop",
        "raw-data-marketing",
        "dbt-jaffle-shop",
        "dbt-attribution",
        "sales-forecast",
        "dashboards",
    ]
    assert all(c.deployment == f"{c.name}/{c.name}" for c in plan.CHILDREN)
    producers = {c.name: set(c.producers) for c in plan.CHILDREN}
    # the jaffle_shop build reads the jaffle_shop landing only, not the marketing one
    assert producers["dbt-jaffle-shop"] == {"raw-data-jaffle-shop"}
    assert producers["sales-forecast"] == {"dbt-jaffle-shop"}
    assert {"raw-data-marketing", "dbt-jaffle-shop"} <= producers["dbt-attribution"]
    assert producers["dashboards"] == {"dbt-jaffle-shop", "dbt-attribution", "sales-forecast"}
    needs = dict(next(c for c in plan.CHILDREN if c.name == "sales-forecast").needs)
    assert needs == {"dbt-jaffle-shop": ("jaffle_shop.daily_store_revenue",)}  # and says what it reads
    seen: set[str] = set()
    for child in plan.CHILDREN:  # every child after the children it needs
        assert set(child.producers) <= seen, child.name
        seen.add(child.name)


def test_only_children_nobody_reads_from_can_be_fire_and_forget():
    assert plan.FORGETTABLE == ("dashboards",)
    assert plan.check_fire_and_forget(["dashboards"]) == {"dashboards"}
    with pytest.raises(ValueError, match=r"others read their data \(dbt-jaffle-shop by dashboards, dbt-attr"):
        plan.check_fire_and_forget(["dbt-jaffle-shop"])
    with pytest.raises(ValueError, match="unknown child"):
        plan.check_fire_and_forget(["nope"])


def test_failure_message_names_child_state_and_error():
    exc = plan.ChildRunFailed(
        [
            (
                "raw-data-jaffle-shop/raw-data-jaffle-shop",
                "raw-data-jaffle-shop 2000-01-01",
                "Failed",
                "Flow run encountered an exception: ValueError: too early",
            )
        ]
    )
    assert str(exc) == (
        "child run 'raw-data-jaffle-shop 2000-01-01' of deployment "
        "raw-data-jaffle-shop/raw-data-jaffle-shop ended Failed: "
        "Flow run encountered an exception: ValueError: too early"
    )


def test_a_childs_time_splits_into_launch_and_run_and_the_run_reports_the_median_launch():
    from datetime import UTC, datetime, timedelta

    from jaffle_coordinator import timing

    created = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    started = created + timedelta(seconds=2.5)
    assert timing.launch_seconds(created, started) == 2.5
    assert timing.run_seconds(started, started + timedelta(seconds=7)) == 7.0
    assert timing.launch_seconds(created, None) is None  # never ran
    assert timing.run_seconds(started, None) is None  # still running
    assert timing.p50([3.0, None, 1.0, 2.0]) == 2.0 and timing.p50([None]) is None


def test_a_graph_whose_child_needs_one_that_does_not_come_before_it_is_refused_at_import():
    entry = {"team": "t", "in_order": False, "writes": []}
    with pytest.raises(ValueError, match=r"b needs \['c'\], which do not come before it"):
        plan._children(
            {"children": [{**entry, "name": "b", "needs": {"c": ["x"]}}, {**entry, "name": "c", "needs": {}}]}
        )


def test_a_failed_child_holds_back_what_it_writes_and_everything_downstream():
    from jaffle_coordinator import alerts

    teams, datasets = alerts.held_back("sales-forecast")
    assert teams == ["dashboards"]
    assert {"ml.revenue_forecast", "ml.forecast_metrics"} <= set(datasets)
    assert any(d.startswith("dashboards.") for d in datasets)
    teams, _ = alerts.held_back("raw-data-jaffle-shop")
    assert teams == ["dashboards", "dbt-transform", "ml-forecast"]
    assert alerts.held_back("dashboards")[0] == []
