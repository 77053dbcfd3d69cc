"""Failure alerts, and who hears of them.

The coordinator knows when a failure is final (a child's last attempt, a parent that failed): it emits
one Prefect event, `EVENT`, whose resource names the owning team (`OWNER`). The platform's automations,
one per owner, send it through that owner's routes, Prefect notification blocks made by `./dev up` from
`routes_variable(owner)` and the owner's `[tool.jaffle] alerts` (ops: `jaffle_ops.alerts`). The parent
flows are the platform team's (`PLATFORM`), whose routes are also where an alert goes when a team's
route fails.
"""

from __future__ import annotations

EVENT = "jaffle.alert.failed"  # a failure that is final
OWNER = "jaffle.owner"  # the event resource's label: the team that owns the fix
PLATFORM = "platform"  # the parent flows' owner, and every route's fallback


def routes_variable(owner: str) -> str:
    """The environment variable that lists an owner's routes: `JAFFLE_ALERTS_ML_FORECAST`."""
    return "JAFFLE_ALERTS_" + owner.upper().replace("-", "_")


# A dataset older than its freshness promise, and one fresh again: sent once each, by the freshness check.
STALE = "jaffle.alert.stale"
RECOVERED = "jaffle.alert.recovered"
EVERY = "jaffle.alert.*"  # what an owner's automation routes
KINDS = (EVENT, STALE, RECOVERED)  # every alert (the lineage view reads them back)
