"""Failure alerts reach the team that owns the fix, once, and only when the failure is final.

A platform of its own whose owners' routes are small HTTP servers on 127.0.0.1, one per team and one for
the platform team (`JAFFLE_ALERTS_<OWNER>`), each counting what it receives. Faults are injected from
outside: a file where the ML team's output folder goes (its forecast cannot be written), a flow run's
processes killed, a window before the shop opened (the landing fails), a receiver answering 500. The
lineage view (the page the dashboards flow writes) shows the alerts still open, and not once the held-back
datasets are materialized again.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import threading
import time
from datetime import UTC, date, datetime

import pytest
from jaffle_contract.alerts import routes_variable

from .harness import Platform, child_running, parent_of, run_processes, trigger, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.alerts]
START, END = date(2024, 5, 1), date(2024, 5, 2)
WINDOW = ("--start", START.isoformat(), "--end", END.isoformat())
OWNERS = ("platform", "ingestion", "dbt-transform", "ml-forecast", "dashboards")
DAYS = {"start_date": START.isoformat(), "end_date": END.isoformat()}
# The automation that alerts a team run started by itself (jaffle_ops.standalone).
STANDALONE = "alerts: team runs started alone"
# Long enough for an alert already on its way to arrive: what a test sees after it is all there is.
SETTLE_SECONDS = 10


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook on 127.0.0.1 that keeps every JSON body it is sent and answers `status`."""

    def __init__(self) -> None:
        received: list[dict] = []
        self.received, self.status = received, 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body or b"{}"))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def texts(self) -> list[str]:
        return [body.get("text", "") for body in self.received]


@pytest.fixture(scope="module")
def receivers():
    found = {owner: Receiver() for owner in OWNERS}
    yield found
    for receiver in found.values():
        receiver.shutdown()


@pytest.fixture(scope="module")
def platform(platforms, receivers):
    # The ML team's route is Slack-compatible ({"text": ...}); the others are JSON webhooks.
    routes = {
        routes_variable(owner): ("slack+" if owner == "ml-forecast" else "") + receiver.url
        for owner, receiver in receivers.items()
    }
    with platforms() as launch:
        cli, home, port = launch("--paused-schedules", env=routes)
        yield Platform(cli, home, port)


def counts(receivers) -> dict[str, int]:
    return {owner: len(receiver.received) for owner, receiver in receivers.items()}


def settled(receivers, expected: dict[str, int]) -> dict[str, int]:
    """Wait until the receivers hold at least `expected`, then a little longer; what they hold."""
    wait_for(
        f"alerts {expected}",
        lambda: all(len(receivers[o].received) >= n for o, n in expected.items()),
        180,
    )
    time.sleep(SETTLE_SECONDS)
    return counts(receivers)


@pytest.fixture
def ml_output_blocked(platform):
    """A file where the ML team's lake folder goes: its forecast cannot be written, nothing else breaks."""
    blocker = platform.data / "lake" / "ml"
    if blocker.is_dir():
        import shutil

        shutil.rmtree(blocker)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("in the way")
    yield blocker
    if blocker.is_file():  # (a test that lets the forecast recover removes it itself)
        blocker.unlink()


def alert_runs(platform: Platform, since: datetime) -> list:
    """The runs of the alert deployment (one per team run that failed or crashed) created since."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with platform.client() as client:
        alert = client.read_deployment_by_name("data-platform-alert/data-platform-alert")
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[alert.id]))
        )
    return [run for run in runs if run.created and run.created > since]


def open_alerts(platform: Platform, dataset: str) -> tuple[int, str]:
    """What the lineage view the dashboards flow last drew shows for a dataset: its node's count of open
    alerts, and its table row's open alerts."""
    page = (platform.data / "dashboards" / "lineage.html").read_text()
    count = re.search(rf'data-dataset="{re.escape(dataset)}" data-state="\w+" data-alerts="(\d+)"', page)
    row = re.search(rf'<tr class="\w+" data-dataset="{re.escape(dataset)}">(.*?)</tr>', page)
    assert count and row, f"{dataset} is not in the lineage view"
    cell = re.search(r'<td class="open-alerts">(.*?)</td>', row.group(1))
    return int(count.group(1)), cell.group(1) if cell else ""


def _saved(platform: Platform) -> dict[str, str]:
    """The alert route blocks and alert automations on the server, by name: their ids."""
    with platform.client() as client:
        blocks = client.read_block_documents(include_secrets=False)
        automations = client.read_automations()
    found = {b.name: str(b.id) for b in blocks if b.name and b.name.startswith("alert-")}
    found.update({a.name: str(a.id) for a in automations if a.name.startswith("alerts: ")})
    return found


def test_up_again_makes_each_route_and_automation_once(platform):
    before = _saved(platform)
    routes = {f"alert-{owner}-1" for owner in OWNERS} | {f"alerts: {owner}" for owner in OWNERS}
    assert routes | {STANDALONE} == set(before)
    again = platform.cli("up", "--paused-schedules")
    assert again.returncode == 0, again.stderr
    assert "alerts      " not in again.stdout  # nothing changed, nothing said
    assert _saved(platform) == before


def test_a_test_alert_says_which_routes_arrived(platform, receivers):
    sent = platform.cli("alerts", "test", "ml-forecast")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "alert-ml-forecast-1 (slack webhook at 127.0.0.1:" in sent.stdout and "arrived" in sent.stdout
    assert receivers["ml-forecast"].texts()[-1].startswith("*[ml-forecast] test alert*")


def test_a_failed_child_and_a_killed_one_alert_their_owners_once_and_the_parent_the_platform(
    platform, receivers, ml_output_blocked
):
    before, began = counts(receivers), datetime.now(UTC)
    run = platform.start("run", *WINDOW)
    parent = parent_of(platform, f"data-platform {START}..{END}")
    # dbt-attribution is killed as it runs: Crashed (it holds back the dashboards too)
    attribution = child_running(platform, parent.id, "dbt-attribution")
    victims = wait_for("dbt-attribution's processes", lambda: run_processes(attribution.id), 120)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    assert run.wait(900) == 1, run.stdout.read() if run.stdout else ""
    # The automation for runs started alone saw both children end, and its alert flow left them to the
    # parent: no second alert.
    ran = wait_for(
        "the alert flow for each failed child",
        lambda: len(done := [r for r in alert_runs(platform, began) if r.state.is_final()]) >= 2 and done,
        180,
    )
    assert len(ran) == 2 and all(r.state.is_completed() for r in ran), [r.state for r in ran]
    now = settled(receivers, {"ml-forecast": before["ml-forecast"] + 1, "platform": before["platform"] + 1})
    new = {owner: now[owner] - before[owner] for owner in OWNERS}
    assert new == {"platform": 1, "ingestion": 0, "dbt-transform": 1, "ml-forecast": 1, "dashboards": 0}
    (ml,) = receivers["ml-forecast"].texts()[before["ml-forecast"] :]
    assert ml.startswith(f"*[ml-forecast] sales-forecast {START}..{END} ended Failed*")
    assert "Holds back: dashboards (dashboards.dashboard, ml.forecast_metrics, ml.revenue_forecast)" in ml
    assert "/runs/flow-run/" in ml and "Owner: ml-forecast" in ml
    (dbt,) = receivers["dbt-transform"].received[before["dbt-transform"] :]
    assert dbt["subject"] == f"[dbt-transform] dbt-attribution {START}..{END} ended Crashed"
    assert "Holds back: dashboards" in dbt["text"]
    (parent_alert,) = receivers["platform"].received[before["platform"] :]
    assert parent_alert["subject"] == f"[platform] data-platform {START}..{END} failed"
    assert "owner ml-forecast" in parent_alert["text"] and "owner dbt-transform" in parent_alert["text"]
    said = platform.summary(parent.id)  # the run's summary lists what it sent
    assert f"ml-forecast: [ml-forecast] sales-forecast {START}..{END} ended Failed" in said
    assert f"platform: [platform] data-platform {START}..{END} failed" in said

    # The lineage view, drawn again: the forecast is held back by the ML team's open alert.
    assert trigger(platform, "dashboards/dashboards", DAYS).state.is_completed()
    count, shown = open_alerts(platform, "ml.revenue_forecast")
    assert count == 1 and "ml-forecast: <a href=" in shown and "/runs/flow-run/" in shown
    assert f"[ml-forecast] sales-forecast {START}..{END} ended Failed</a>" in shown


def test_a_cell_that_fails_every_attempt_alerts_once_and_one_that_recovers_not_at_all(
    platform, receivers, ml_output_blocked
):
    before = counts(receivers)
    options = ("--attempts", "2", "--backoff-seconds", "5", "--chunk-days", "7")
    failed = platform.cli("backfill", *WINDOW, *options)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    now = settled(receivers, {"ml-forecast": before["ml-forecast"] + 1, "platform": before["platform"] + 1})
    assert {owner: now[owner] - before[owner] for owner in OWNERS} == {
        "platform": 1,
        "ingestion": 0,
        "dbt-transform": 0,
        "ml-forecast": 1,  # after its second attempt, not its first
        "dashboards": 0,
    }
    assert "Holds back: dashboards" in receivers["ml-forecast"].texts()[-1]

    # Again, with the blocker gone once the first attempt has failed: the cell completes, nobody hears.
    before = counts(receivers)
    began = datetime.now(UTC)
    backfill = platform.start("backfill", *WINDOW, *options, "--backoff-seconds", "20")

    def first_attempt_failed() -> bool:
        runs = platform.runs_named(f"sales-forecast {START}..{END}")
        return any(r.created > began and r.state and r.state.is_failed() for r in runs)

    wait_for("the forecast's first attempt failed", first_attempt_failed, 600, every=0.5)
    ml_output_blocked.unlink()
    assert backfill.wait(900) == 0, backfill.stdout.read() if backfill.stdout else ""
    time.sleep(SETTLE_SECONDS)
    assert counts(receivers) == before
    # Its dashboards cell drew the lineage view after the forecast was written again: no alert open.
    assert open_alerts(platform, "ml.revenue_forecast") == (0, "")
    assert open_alerts(platform, "ml.forecast_metrics") == (0, "")


def test_a_team_run_started_by_itself_that_fails_alerts_its_owner_once(
    platform, receivers, ml_output_blocked
):
    before = counts(receivers)
    ended = trigger(platform, "sales-forecast/sales-forecast", DAYS)  # as the UI's Run button does
    assert ended.state.is_failed(), ended.state
    now = settled(receivers, {"ml-forecast": before["ml-forecast"] + 1})
    assert {owner: now[owner] - before[owner] for owner in OWNERS} == {
        "platform": 0,  # no parent
        "ingestion": 0,
        "dbt-transform": 0,
        "ml-forecast": 1,
        "dashboards": 0,
    }
    (text,) = receivers["ml-forecast"].texts()[before["ml-forecast"] :]
    assert text.startswith(f"*[ml-forecast] sales-forecast {ended.name} ended Failed*"), text
    assert "NotADirectoryError" in text and f"/runs/flow-run/{ended.id}" in text
    assert "Holds back: dashboards" in text and "Started: by itself (no parent run)" in text


def test_a_route_that_fails_reaches_the_platform_team_naming_it(platform, receivers):
    receivers["ingestion"].status = 500
    try:
        before = counts(receivers)
        # before the shop opened: both landings fail, two alerts to the ingestion team's route
        run = platform.cli("run", "--start", "2000-01-01", "--end", "2000-01-01")
        assert run.returncode == 1
        now = settled(receivers, {"platform": before["platform"] + 3})
    finally:
        receivers["ingestion"].status = 200
    assert now["ingestion"] - before["ingestion"] == 2 * 4  # every attempt of the route, for each alert
    assert now["platform"] - before["platform"] == 3
    received = receivers["platform"].received[before["platform"] :]
    failed_route = "[platform] alert route ingestion failed: "
    fallbacks = sorted(
        (b for b in received if b["subject"].startswith(failed_route)), key=lambda b: b["subject"]
    )
    assert [b["subject"].removeprefix(failed_route) for b in fallbacks] == [
        "[ingestion] raw-data-jaffle-shop 2000-01-01 ended Failed",
        "[ingestion] raw-data-marketing 2000-01-01 ended Failed",
    ]
    for fallback in fallbacks:
        assert "the alert route ingestion (json webhook at 127.0.0.1:" in fallback["text"]
        assert "failed after 4 attempt(s): HTTP 500" in fallback["text"]
    assert "before the first Jaffle Shop opened" in fallbacks[0]["text"]  # the alert it carried
    (parent,) = [b for b in received if not b["subject"].startswith(failed_route)]
    assert parent["subject"] == "[platform] data-platform 2000-01-01 failed"


PROMISE = 60  # seconds: the forecast's freshness promise for the checks below (declared: 36 h)


def test_a_dataset_past_its_promise_alerts_its_owner_and_readers_once_and_once_fresh_again(
    platform, receivers
):
    check = {"promises_seconds": {"ml.revenue_forecast": PROMISE}}
    before = counts(receivers)

    def stale_alert_sent() -> bool:  # the forecast's producer stopped: no run since the last one
        assert trigger(platform, "data-freshness/data-freshness", check).state.is_completed()
        return len(receivers["ml-forecast"].received) > before["ml-forecast"]

    wait_for("the stale alert", stale_alert_sent, PROMISE + 300, every=5)
    now = settled(
        receivers, {"ml-forecast": before["ml-forecast"] + 1, "dashboards": before["dashboards"] + 1}
    )
    assert {owner: now[owner] - before[owner] for owner in OWNERS} == {
        "platform": 0,
        "ingestion": 0,
        "dbt-transform": 0,
        "ml-forecast": 1,  # its owner
        "dashboards": 1,  # the team that reads it
    }
    (owner,) = receivers["ml-forecast"].texts()[before["ml-forecast"] :]
    assert owner.startswith("*[ml-forecast] ml.revenue_forecast is stale*")
    assert "last materialized" in owner and "/runs/flow-run/" in owner
    (reader,) = receivers["dashboards"].received[before["dashboards"] :]
    assert reader["subject"] == "[dashboards] ml.revenue_forecast is stale"
    assert "Owner: ml-forecast (dashboards reads it)" in reader["text"]

    # Checked again while still stale: nothing more.
    assert trigger(platform, "data-freshness/data-freshness", check).state.is_completed()
    time.sleep(SETTLE_SECONDS)
    assert counts(receivers) == now

    # Its producer runs again: fresh, said once to each. The server stores events in batches a few seconds
    # apart, so a check started at once may not see the new materialization yet: check until it does
    # (checking again sends nothing more).
    assert trigger(platform, "sales-forecast/sales-forecast", DAYS).state.is_completed()

    def fresh_alert_sent() -> bool:
        assert trigger(platform, "data-freshness/data-freshness", check).state.is_completed()
        time.sleep(2)  # (the alert's delivery is on its way)
        return len(receivers["ml-forecast"].received) > now["ml-forecast"]

    wait_for("the fresh-again alert", fresh_alert_sent, PROMISE - 15, every=1)
    again = settled(receivers, {"ml-forecast": now["ml-forecast"] + 1, "dashboards": now["dashboards"] + 1})
    assert {owner: again[owner] - now[owner] for owner in OWNERS} == {
        "platform": 0,
        "ingestion": 0,
        "dbt-transform": 0,
        "ml-forecast": 1,
        "dashboards": 1,
    }
    assert (
        receivers["dashboards"].received[-1]["subject"] == "[dashboards] ml.revenue_forecast is fresh again"
    )
