"""A team flow triggered as a person would: the Prefect UI in headless Chromium, a custom run of
`raw-data-jaffle-shop` with a date range picked in the run form, followed until the UI shows it
Completed; then the lake holds exactly that range."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def platform(launch_platform):
    # Not shared with test_platform.py's: that module ends by bringing its platform down.
    return launch_platform("--paused-schedules")


@pytest.fixture
def page(platform, chromium_page, ui_login):
    """A Chromium page logged in to the platform's UI, once the platform is up."""
    from jaffle_ops.secrets import read_auth_string

    _, home, port = platform
    ui_login(chromium_page, f"http://127.0.0.1:{port}", read_auth_string(home))
    return chromium_page


def pick(page, label: str, day: date) -> None:
    """Choose `day` in the form's date picker for the parameter titled `label` (a nullable date: pick
    the `date` branch first). The picker opens on the current month; `day` is in the previous one."""
    title = page.locator(".schema-form-property__label", has_text=re.compile(f"^{label}"))
    field = page.locator(".schema-form-property-any-of-input").filter(has=title)
    field.get_by_role("button", name="date", exact=True).click()
    field.get_by_text("Select date").click()
    picker = page.locator(".p-date-picker")
    picker.locator(".p-calendar-header__before button").click()
    month = day.strftime("%B")
    assert picker.locator(".p-date-picker__title-month").inner_text().strip() == month
    picker.locator(".p-calendar-date-picker__date--in-month").get_by_text(str(day.day), exact=True).click()
    page.get_by_role("button", name="Apply", exact=True).click()
    # the chosen day shows in the field, as the UI formats it (e.g. 2026/10/10 or Oct 10th, 2026)
    shown = field.locator(".p-date-button__value").inner_text()
    assert str(day.day) in shown and "Select date" not in shown, shown


def is_create_flow_run(response) -> bool:
    return response.request.method == "POST" and response.url.endswith("/create_flow_run")


def test_a_custom_run_from_the_ui_form_lands_exactly_the_chosen_days(
    platform, page, platform_client, artifacts
):
    _, home, port = platform
    ui = f"http://127.0.0.1:{port}"
    first_of_month = date.today().replace(day=1)
    start = (first_of_month - timedelta(days=1)).replace(day=10)  # the 10th..12th of last month
    end = start + timedelta(days=2)

    # Deployments -> raw-data-jaffle-shop -> Run -> Custom run
    page.goto(f"{ui}/deployments")
    page.get_by_role("link", name="raw-data-jaffle-shop", exact=True).first.click()
    page.wait_for_url(re.compile(r"/deployments/deployment/[0-9a-f-]+$"))
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run", exact=True).click()
    page.wait_for_url(re.compile(r"/deployments/deployment/[0-9a-f-]+/run"))

    # The form explains itself: the parameters' titles and descriptions from the flow's signature.
    page.get_by_text("First day (Optional)").wait_for()
    for text in ("Last day (Optional)", "Source (Optional)", "First day to land, inclusive"):
        assert page.get_by_text(text).first.is_visible(), text
    pick(page, "First day", start)
    pick(page, "Last day", end)
    run_name = page.locator(".p-label").filter(has_text="Run Name").locator("input").first
    run_name.fill(f"ui-custom-run-{start}")
    page.screenshot(path=str(artifacts / "prefect-ui-custom-run-form.png"), full_page=True)
    # Submit: the UI posts the run to the API, then goes back to the deployment with a toast linking
    # the new run. The API's answer is the signal (a loaded machine may render the page late).
    with page.expect_response(is_create_flow_run, timeout=120_000) as created:
        page.get_by_role("button", name="Submit", exact=True).click()
    response = created.value
    assert response.status == 201, f"the UI's create_flow_run got {response.status}: {response.text()}"
    flow_run_id = response.json()["id"]

    # The run's page (the toast's "View run" goes there) follows it until it shows Completed.
    page.get_by_text(f"ui-custom-run-{start}").first.wait_for()  # the toast: "<name> scheduled ..."
    page.goto(f"{ui}/runs/flow-run/{flow_run_id}")
    page.locator(".state-badge", has_text="Completed").first.wait_for(timeout=600_000)
    page.screenshot(path=str(artifacts / "prefect-ui-run-completed.png"), full_page=True)

    # What the form sent is what ran, and the lake holds exactly those days.
    run = platform_client(home, port).read_flow_run(flow_run_id)
    assert run.state.is_completed() and run.name == f"ui-custom-run-{start}"
    sent = {k: v for k, v in run.parameters.items() if v is not None}  # unset stays unset or null
    assert sent == {"start_date": start.isoformat(), "end_date": end.isoformat()}
    lake = home / "data" / "lake" / "raw" / "jaffle_shop"
    expected = [f"date={start + timedelta(days=i)}" for i in range(3)]
    for table in ("orders", "order_items", "customers"):
        assert sorted(p.name for p in (lake / table).glob("date=*")) == expected, table
