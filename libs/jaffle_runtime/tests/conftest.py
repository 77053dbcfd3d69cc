"""Which of the launcher's tests are in the compatibility tier (`-m compat`, docs/upgrading.md).

The tier runs the warm worker and launcher on the oldest and the newest Prefect the platform supports:
a run forked from the warm parent, one taken on its Scheduled event (the prompt worker), one on the stock
path, a killed run Crashed, a cancelled one, and one started cold. They are marked here, by name, so
the tier's list stays in one place beside the tests it names."""

from __future__ import annotations

import pytest

COMPAT = {
    "test_launcher.py": (
        "test_a_run_is_forked_from_the_warm_parent_and_logs_to_the_api",
        "test_the_worker_takes_a_run_on_its_scheduled_event_between_polls",
        "test_a_run_without_a_command_takes_the_stock_path_of_the_same_worker",
        "test_a_killed_run_is_crashed_and_the_warm_parent_lives_on",
        "test_cancel_stops_a_forked_run",
        "test_without_a_warm_parent_a_run_starts_cold",
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    checked: set[str] = set()
    for item in items:
        file = item.path.name
        names = COMPAT.get(file, ())
        if file in COMPAT and file not in checked:
            # A renamed test would silently leave the tier: a name that is gone is an error instead.
            gone = [name for name in names if not hasattr(item.module, name)]
            if gone:
                raise pytest.UsageError(f"conftest.py names tests {file} no longer has: {', '.join(gone)}")
            checked.add(file)
        if item.originalname in names:
            item.add_marker(pytest.mark.compat)
