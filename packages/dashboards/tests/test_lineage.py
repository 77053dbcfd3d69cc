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


def _alert(kind, hours_ago, datasets, owner="ml", dataset_owner=None, subject=None):
    return lineage.Alert(
        kind,
        NOW - timedelta(hours=hours_ago),
        owner,
        subject or f"[{owner}] {kind} {hours_ago}",
        f"http://ui/runs/flow-run/{kind}-{hours_ago}",
        list(datasets),
        dataset_owner,
    )


def test_a_failure_alert_holds_its_datasets_open_until_each_materializes_again():
    failed = _alert("failed", 5, ["ml.forecast", "page"])
    successes = lineage.succeeded([_m("ml.forecast", 6), _m("page", 2), _m("ml.forecast", 7)])
    assert successes == {"ml.forecast": NOW - timedelta(hours=6), "page": NOW - timedelta(hours=2)}
    # the forecast last succeeded before the alert: still held back; the page was drawn since: closed
    assert lineage.open_alerts([failed], successes) == {"ml.forecast": [failed]}
    again = _alert("failed", 1, ["ml.forecast"])
    assert lineage.open_alerts([again, failed], successes) == {"ml.forecast": [again, failed]}  # newest first
    assert lineage.open_alerts([failed], {"ml.forecast": NOW}) == {"page": [failed]}  # never drawn: open
    # a parent's alert names no dataset: it holds none open
    assert lineage.open_alerts([_alert("failed", 1, [], owner="platform")], {}) == {}


def test_a_stale_alert_is_open_until_its_fresh_again_one_and_the_owners_copy_stands_for_the_readers():
    owners = _alert("stale", 3, ["ml.forecast"], "ml", "ml")
    readers = _alert("stale", 3, ["ml.forecast"], "dashboards", "ml")
    assert lineage.open_alerts([readers, owners], {}) == {"ml.forecast": [owners]}
    fresh = [_alert("recovered", 2, ["ml.forecast"], o, "ml") for o in ("ml", "dashboards")]
    assert lineage.open_alerts([owners, readers, *fresh], {}) == {}
    stale_again = _alert("stale", 1, ["ml.forecast"], "dashboards", "ml")
    # a success after a stale alert does not close it: only its fresh-again alert does
    found = lineage.open_alerts([owners, *fresh, stale_again], {"ml.forecast": NOW})
    assert found == {"ml.forecast": [stale_again]}


def test_the_page_marks_each_node_with_its_open_alerts_and_lists_them_linking_the_run():
    graph = lineage.build(EVENTS, NOW)
    failed = _alert("failed", 0.2, ["ml.forecast", "page", "ml.metrics"], subject="[ml] forecast <failed>")
    lineage.attach(graph, lineage.open_alerts([failed], lineage.succeeded(EVENTS)))
    page = lineage.page(graph, NOW)
    marked = dict(re.findall(r'data-dataset="([^"]+)" data-state="\w+" data-alerts="(\d+)"', page))
    assert marked == {name: "0" for name in graph.nodes} | {
        "ml.forecast": "1",
        "page": "1",
        "ml.metrics": "1",
    }
    assert page.count('<g class="alert-badge">') == 3
    row = re.search(r'<tr class="fresh" data-dataset="ml.forecast">.*?</tr>', page)
    assert row is not None
    assert (
        '<td class="open-alerts"><span class="alert">ml: <a href="http://ui/runs/flow-run/failed-0.2">'
        "[ml] forecast &lt;failed&gt;</a></span></td>"
    ) in row.group(0)
    assert "3 with open alerts" in page
    # a dataset the view had not seen is drawn all the same, with its alert
    assert graph.nodes["ml.metrics"].state == "unknown"
    assert '<td class="open-alerts"></td>' in page  # the others: none
