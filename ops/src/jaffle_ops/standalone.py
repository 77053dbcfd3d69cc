"""The automation that alerts the owner of a team's run started by itself (no parent) that failed or
crashed: the parents alert for the children they start, and nothing else sees the others (the Prefect
UI's Run button, `./dev land --source`).

On `prefect.flow-run.Failed` or `.Crashed` of a run of any team deployment (the registry's, by name), it
runs the coordinator's `data-platform-alert` deployment with that run's id (a Jinja template Prefect fills
from the event). The flow skips a run a parent started (the parent alerts), a canary and a run retried
since (`jaffle_coordinator.standalone`). An automation, not a hook in the team's flow: a run whose process
died is marked Crashed by the server (`recovery.py`), where no hook of the dead run can see it. Prefect
refuses an automation that runs a deployment on every flow run's state (it could start itself): this one
matches team deployments only, and the alert runs on the coordinator's.

`deploying.deploy` keeps it after every deploy (it needs the alert deployment's id); again, it changes
nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from jaffle_contract.deployments import DATA_PLATFORM_ALERT, qualified

from jaffle_ops.alerts import AUTOMATION_PREFIX
from jaffle_ops.workspace import COORDINATOR, teams

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.events.schemas.automations import AutomationCore

NAME = f"{AUTOMATION_PREFIX}team runs started alone"
ENDED = ("prefect.flow-run.Failed", "prefect.flow-run.Crashed")


def team_deployments(root: Path) -> list[str]:
    """Every team deployment's name (a deployment is named after its flow), the coordinator's aside."""
    return sorted(d["name"] for team in teams(root) if team.env != COORDINATOR for d in team.deployments)


def automation(alert_deployment_id: Any, deployments: list[str]) -> AutomationCore:
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return AutomationCore(
        name=NAME,
        description=(
            f"Run {DATA_PLATFORM_ALERT} for a team run that failed or crashed: it alerts the run's owner "
            "unless a parent started it (the parent alerts) or it is a canary."
        ),
        trigger=EventTrigger(
            expect=set(ENDED),
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            match_related=ResourceSpecification(
                {"prefect.resource.role": "deployment", "prefect.resource.name": deployments}
            ),
            posture=Posture.Reactive,
            threshold=1,
            within=0,
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=alert_deployment_id,
                parameters={"flow_run_id": {"__prefect_kind": "jinja", "template": "{{ flow_run.id }}"}},
            )
        ],
    )


def ensure(root: Path, client: SyncPrefectClient) -> list[str]:
    """The automation, made or updated to the registry's team deployments; what changed. Without the
    alert deployment (the coordinator not deployed yet) there is nothing to run: nothing is made."""
    from prefect.exceptions import ObjectNotFound

    from jaffle_ops import recovery

    try:
        alert = client.read_deployment_by_name(qualified(DATA_PLATFORM_ALERT))
    except ObjectNotFound:
        return []
    wanted = automation(alert.id, team_deployments(root))
    return [f"automation {NAME}"] if recovery.ensure_automation(client, wanted) else []
