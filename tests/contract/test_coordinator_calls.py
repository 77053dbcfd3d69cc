"""Every `run_deployment` call the coordinator makes names a real deployment with valid parameters, and
so does every start of the coordinator's own deployments with a window (`./dev run`, `./dev backfill`).

The coordinator knows teams only by deployment name and parameters (plan.CHILDREN and Window.parameters),
so a team that renames a flow, a deployment or a parameter breaks this test, not production. Runs in
every team's environment: each checks the calls aimed at its own package's flows.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / os.environ.get("PLATFORM_PACKAGE", "coordinator")


def _plan():
    # plan.py uses the standard library only, so any team's environment can read it by path.
    spec = importlib.util.spec_from_file_location(
        "coordinator_plan", ROOT / "coordinator/src/jaffle_coordinator/plan.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


PLAN = _plan()
# The parent's children, which the backfill's grid calls too (one cell per child and chunk), and the
# coordinator's deployments, which the CLI starts with a window.
CALLS = [*PLAN.CHILDREN] + [
    PLAN.Child(PLAN.deployments.qualified(name))
    for name in (PLAN.deployments.DATA_PLATFORM, PLAN.deployments.DATA_PLATFORM_BACKFILL)
]


def _declared() -> dict[str, tuple[Path, dict]]:
    found = {}
    for spec in sorted(ROOT.glob("*/prefect.yaml")) + sorted(ROOT.glob("packages/*/prefect.yaml")):
        for deployment in yaml.safe_load(spec.read_text())["deployments"]:
            found[f"{deployment['name']}/{deployment['name']}"] = (spec.parent, deployment)
    return found


DECLARED = _declared()


@pytest.mark.parametrize("child", CALLS, ids=lambda c: c.name)
def test_every_child_the_coordinator_calls_is_declared_by_a_team(child):
    assert child.deployment in DECLARED, (
        f"the coordinator calls {child.deployment}, which no prefect.yaml declares"
    )


@pytest.mark.parametrize(
    "child", [c for c in CALLS if DECLARED.get(c.deployment, (None,))[0] == PACKAGE], ids=lambda c: c.name
)
def test_the_coordinators_parameters_validate_against_the_flow(child):
    folder, deployment = DECLARED[child.deployment]
    flow = load_flow_from_entrypoint(str(folder / deployment["entrypoint"]))
    sent = PLAN.Window(date(2024, 3, 1), date(2024, 3, 7)).parameters()
    validated = flow.validate_parameters(sent)
    assert validated["start_date"] == date(2024, 3, 1) and validated["end_date"] == date(2024, 3, 7)
    # A backfill's cells but a child's last also send its team's `backfill-not-last` (dbt: docs off).
    not_last = dict(child.not_last)
    validated = flow.validate_parameters({**sent, **not_last})
    assert {name: validated[name] for name in not_last} == not_last
