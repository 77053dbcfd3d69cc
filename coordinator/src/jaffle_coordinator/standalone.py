"""A team's run started by itself (no parent: the Prefect UI's Run button, `./dev land --source`) that
failed or crashed alerts its owner once, as a daily parent alerts for its children.

The parents alert for the children they start; nothing else sees a run started alone. `./dev up` makes
an automation (`jaffle_ops.standalone`) that runs the `data-platform-alert` deployment with the id of every
team deployment's run that ends Failed or Crashed. A crash the server marks (no heartbeats: its process
died) is such an event too, one that no hook inside the dead run could have reported. The flow reads the
run and skips what others report: a run a parent started (its `parent:<id>` tag; a backfill's cells carry
it too, and the backfill alerts after a cell's last attempt), a canary (the upgrade that ran it reports
it), and a run that is no longer failed (retried since).
"""

from __future__ import annotations

import uuid
from typing import Any

from jaffle_contract import alerts as contract
from jaffle_contract.deployments import CANARY_TAG
from prefect import get_client, get_run_logger

from jaffle_coordinator import alerts, plan
from jaffle_coordinator.children import BACKFILL_TAG, PARENT_TAG, ui_link

TEAM_TAG = "team:"  # every team deployment's tag, `team:<team>`; its runs carry it
FAILED = ("FAILED", "CRASHED")


def why_not(tags: list[str], state_type: str | None) -> str | None:
    """Why a team's failed run sends no alert of its own (someone else reports it), or None."""
    parent = next((tag for tag in tags if tag.startswith(PARENT_TAG)), None)
    if parent:
        return f"started by parent run {parent.removeprefix(PARENT_TAG)}, which alerts for it"
    if BACKFILL_TAG in tags:
        return "a backfill's cell: the backfill alerts after its last attempt"
    if CANARY_TAG in tags:
        return "a canary: the upgrade that ran it reports how it ended"
    if state_type not in FAILED:
        return f"no longer failed (now {state_type or 'without a state'}): retried since"
    return None


def child_of(deployment: str, tags: list[str]) -> plan.Child:
    """The plan's child for a deployment (`<flow>/<deployment>`); one outside the plan is its `team:`
    tag's (it holds back nothing the plan knows of)."""
    for child in plan.CHILDREN:
        if child.deployment == deployment:
            return child
    team = next((tag.removeprefix(TEAM_TAG) for tag in tags if tag.startswith(TEAM_TAG)), contract.PLATFORM)
    return plan.Child(deployment, team=team)


async def alert(flow_run_id: uuid.UUID) -> dict[str, Any]:
    """Alert the owner of this team run unless `why_not` says someone else reports it; what was done."""
    logger = get_run_logger()
    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
        if run.deployment_id is None:
            logger.info("No alert for %s: not a deployment's run", run.name)
            return {"run": run.name, "alerted": None, "skipped": "not a deployment's run"}
        deployment = await client.read_deployment(run.deployment_id)
        flow = await client.read_flow(run.flow_id)
    state = run.state
    why = why_not(list(run.tags), state.type.value if state else None)
    if why or state is None:
        logger.info("No alert for %s: %s", run.name, why)
        return {"run": run.name, "alerted": None, "skipped": why}
    child = child_of(f"{flow.name}/{deployment.name}", list(run.tags))
    url = ui_link(run)
    # A run started alone has a generated name (`witty-beetle`): the alert names its deployment too.
    name = run.name if run.name.startswith(child.name) else f"{child.name} {run.name}"
    said = state.name or state.type.value.title()
    alerts.child_failed(child, name, url, said, state.message or "", started="by itself (no parent run)")
    return {"run": run.name, "alerted": child.team}
