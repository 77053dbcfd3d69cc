from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from jaffle_dashboards import lineage

NOW = datetime(2024, 3, 2, 12, tzinfo=UTC)


def _m(dataset, hours_ago, status="succeeded", upstream=(), freshness=36, owner="team"):
    return lineage.Materialization(
        dataset, status, NOW - timedelta(hours=hours_ago), owner, freshness, list(upstream), f"lake/{dataset}"
    )


EVENTS = [
    _m("raw.orders", 50, owner="ingestion"),
    _m("raw.orders", 2, owner="ingestion"),
    _m("raw.stores", 40, owner="ingestion"),  # older than its 36 hours: stale
    _m("shop.daily", 30, upstream=["raw.orders", "raw.stores"], owner="dbt"),
    _m("shop.daily", 1, status="failed", upstream=["raw.orders", "raw.stores"], owner="dbt"),
    _m("ml.forecast", 1, upstream=["shop.daily"], owner="ml"),
    _m("page", 0.5, upstream=["ml.forecast", "shop.daily", "raw.customers"], owner="dashboards"),
]


def test_each_dataset_takes_its_latest_materialization_and_its_declared_freshness():
    graph = lineage.build(list(reversed(EVENTS)), NOW)
    states = {name: node.state for name, node in graph.nodes.items()}
    assert states == {
        "raw.orders": "fresh",
        "raw.stores": "stale",
        "shop.daily": "failed",  # its last success (30 h ago) is fresh, but its latest run failed
        "ml.forecast": "fresh",
        "page": "fresh",
        "raw.customers": "unknown",  # only named as an upstream
    }
    assert graph.nodes["shop.daily"].owner == "dbt"
    assert graph.nodes["shop.daily"].last_success == NOW - timedelta(hours=30)
    assert graph.edges == {
        ("raw.orders", "shop.daily"),
        ("raw.stores", "shop.daily"),
        ("shop.daily", "ml.forecast"),
        ("ml.forecast", "page"),
        ("shop.daily", "page"),
        ("raw.customers", "page"),
    }
    assert lineage.layers(graph) == [
        ["raw.customers", "raw.orders", "raw.stores"],
        ["shop.daily"],
        ["ml.forecast"],
        ["page"],
    ]


def test_a_dataset_whose_upstreams_change_keeps_only_its_latest_declaration():
    graph = lineage.build([_m("b", 5, upstream=["a"]), _m("b", 1, upstream=["c"])], NOW)
    assert graph.edges == {("c", "b")}
    assert set(graph.nodes) == {"b", "c"}


def test_the_page_draws_every_dataset_and_edge_and_highlights_the_stale_and_failed():
    graph = lineage.build(EVENTS, NOW)
    page = lineage.page(graph, NOW)
    drawn = {name: state for state, name in re.findall(r'<g class="node (\w+)" data-dataset="([^"]+)"', page)}
    assert sorted(drawn) == sorted(graph.nodes)
    assert drawn["raw.stores"] == "stale" and drawn["shop.daily"] == "failed"
    edges = set(re.findall(r'class="edge" data-from="([^"]+)" data-to="([^"]+)"', page))
    assert edges == graph.edges
    assert "6 datasets, 6 edges: 1 failed, 1 stale, 1 unknown, 3 fresh" in " ".join(page.split())
    # the table lists the failed and stale first, with owner and age
    rows = re.findall(r'<tr class="(\w+)" data-dataset="([^"]+)"><td>[^<]*</td><td>([^<]*)</td>', page)
    assert rows[0] == ("failed", "shop.daily", "dbt") and rows[1] == ("stale", "raw.stores", "ingestion")
    assert "40.0 h ago" in page


def test_what_an_earlier_drawing_kept_outlives_the_events_and_shows_stale(tmp_path):
    kept = tmp_path / "lineage.json"
    kept.write_text(lineage.save(EVENTS))
    # Weeks later the server no longer has those events; only the page's own record does.
    later = NOW + timedelta(days=20)
    graph = lineage.build(lineage.latest([*lineage.load(kept.read_bytes), _m("raw.orders", -480)]), later)
    assert graph.nodes["raw.orders"].state == "fresh"  # written again just now
    assert graph.nodes["ml.forecast"].state == "stale" and graph.nodes["ml.forecast"].owner == "ml"
    assert graph.nodes["shop.daily"].state == "failed"
    assert ("ml.forecast", "page") in graph.edges


def test_a_missing_or_torn_record_is_an_empty_history_and_an_empty_graph_says_so(tmp_path):
    assert lineage.load((tmp_path / "absent.json").read_bytes) == []
    (tmp_path / "torn.json").write_text('[{"dataset": "raw.orders", "stat')
    assert lineage.load((tmp_path / "torn.json").read_bytes) == []
    assert "No dataset has been materialized yet" in lineage.page(lineage.build([], NOW), NOW)
