"""`alerts test [OWNER]`: a test alert through each of an owner's routes, as saved on the platform."""

from __future__ import annotations

import argparse
import asyncio

from jaffle_contract import alerts as contract

from jaffle_ops import admin, alerts
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform


def cmd_alerts(platform: Platform, args: argparse.Namespace) -> int:
    """`alerts test [OWNER]`: send a test alert through every route of OWNER (a team, or the platform
    team) and say which arrived: the routes `./dev up` saved, each with its retries (not its fallback: a
    test names the route that failed instead)."""
    known = alerts.owners(platform.root)
    owner = args.owner or contract.PLATFORM
    if owner not in known:
        raise PlatformError(f"no owner {owner!r} (owners: {', '.join(known)})")
    if not admin.healthy(platform):
        raise platform.no_server()
    with admin.targeting(platform):
        saved = alerts.saved_routes(owner)
    if not saved:
        print(
            f"{owner} has no webhook routes on this platform: "
            f"set {contract.routes_variable(owner)} and ./dev up"
        )
        return 1
    failed = 0
    subject = f"[{owner}] test alert"
    text = f"A test alert of {owner}'s routes, sent by ./dev alerts test on {platform.api_url}."
    for number, block in enumerate(saved, start=1):
        route = block.route()
        why = asyncio.run(alerts.deliver(route, subject, text, owner, block.attempts, block.backoff_seconds))
        said = "arrived" if not why else f"did not arrive after {block.attempts} attempt(s): {why}"
        print(f"{alerts.block_name(owner, number)} ({route.shown}): {said}")
        failed += bool(why)
    return 1 if failed else 0
