"""A parent retried with the UI's Retry button reruns only the child that did not complete."""

from __future__ import annotations

import time
from datetime import date

import pytest
from jaffle_ops.secrets import read_auth_string

from .harness import final

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_parent_retried_from_the_ui_reruns_only_the_children_that_did_not_complete(
    platform, record, chromium_page, ui_login
):
    start, end = date(2024, 5, 8), date(2024, 5, 9)
    # Fault from outside: a folder where the dashboards team writes its page.
    blocker = platform.data / "dashboards" / "latest.html"
    if blocker.is_file():
        blocker.unlink()
    (blocker / "in-the-way").mkdir(parents=True)
    first = platform.cli("run", "--start", start.isoformat(), "--end", end.isoformat())
    assert first.returncode == 1 and "dashboards" in first.stdout
    parent = platform.runs_named(f"data-platform {start}..{end}")[0]
    assert "ended Failed" in parent.state.message and "dashboards" in parent.state.message
    before = platform.counts(start, end)

    (blocker / "in-the-way").rmdir()
    blocker.rmdir()
    # The UI's Retry button on the parent's run page, and the confirmation in its dialog.
    page = chromium_page
    ui_login(page, platform.ui, read_auth_string(platform.home))
    page.goto(f"{platform.ui}/runs/flow-run/{parent.id}")
    page.get_by_role("button", name="Retry").first.click()
    with page.expect_response(lambda r: r.request.method == "POST" and "/set_state" in r.url) as sent:
        page.locator(".p-modal").get_by_role("button", name="Retry").click()
    assert sent.value.status in (200, 201), sent.value.text()
    fault_fixed = time.monotonic()
    assert final(platform, parent.id).state.is_completed()
    seconds = time.monotonic() - fault_fixed
    page.reload()
    page.locator(".state-badge", has_text="Completed").first.wait_for()
    kids = platform.children(parent.id)
    assert {name: len(runs) for name, runs in kids.items()} == {
        "raw-data-jaffle-shop": 1,
        "raw-data-marketing": 1,
        "dbt-jaffle-shop": 1,
        "dbt-attribution": 1,
        "sales-forecast": 1,
        "dashboards": 2,
    }
    assert [r.state.name for r in kids["dashboards"]] == ["Failed", "Completed"]
    summary = platform.summary(parent.id)
    assert summary.count("reused: completed earlier") == 5 and "rerun (attempt 2)" in summary
    assert platform.read(parent.id).state.is_completed() and blocker.is_file()
    after = platform.counts(start, end)
    assert after == before and after["duplicates"] == 0
    record(
        "4 retry (the UI's Retry button) of a parent whose last child failed",
        passed=True,
        seconds_resume_to_completed=round(seconds, 1),
        children_rerun=["dashboards"],
        rows_lost=before["warehouse"] - after["warehouse"],
        rows_duplicated=after["duplicates"],
    )
