"""A pytest plugin the suite runner loads in every environment (`-p pytest_tiers`): each test's tier
(the first of its tier markers, else `unit`) goes into the JUnit report as a property, so
tools/test_all.py can time every tier."""

from __future__ import annotations

# Most specific first: a docker test that is also an integration test counts as docker.
TIERS = ("faults", "security", "docker", "browser", "postgres", "integration")


def pytest_collection_modifyitems(items) -> None:  # type: ignore[no-untyped-def]
    for item in items:
        tier = next((name for name in TIERS if item.get_closest_marker(name)), "unit")
        item.user_properties.append(("tier", tier))
