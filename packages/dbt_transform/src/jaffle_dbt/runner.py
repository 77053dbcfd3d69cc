"""Run dbt programmatically (dbtRunner) against the warehouse the settings point at."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

from dbt.cli.main import dbtRunner

from jaffle_dbt.settings import PROJECT_DIR, DbtSettings

# What each dbt deployment builds: its staging layer and its marts.
SELECTIONS = {
    "jaffle_shop": ["path:models/staging/jaffle_shop", "path:models/marts/jaffle_shop"],
    "attribution": ["path:models/staging/marketing", "path:models/marts/attribution"],
}


@dataclass(frozen=True)
class NodeResult:
    name: str
    resource_type: str
    status: str
    message: str | None


class DbtBuildFailed(RuntimeError):
    """dbt finished but some models or tests did not pass."""


def build(selection: str, start: date, end: date, settings: DbtSettings | None = None) -> list[NodeResult]:
    """`dbt build` one selection; raises DbtBuildFailed naming every failed node."""
    settings = settings or DbtSettings()
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    os.environ["JAFFLE_LAKE_DIR"] = str(settings.lake_dir)
    os.environ["JAFFLE_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    args = [
        "build",
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target",
        settings.dbt_target,
        "--target-path",
        str(settings.artifacts_dir / "target" / selection),
        "--log-path",
        str(settings.artifacts_dir / "logs"),
        "--select",
        *SELECTIONS[selection],
        "--vars",
        f"{{start_date: '{start.isoformat()}', end_date: '{end.isoformat()}'}}",
    ]
    outcome = dbtRunner().invoke(args)
    if outcome.exception is not None:
        raise DbtBuildFailed(f"dbt build {selection} could not run: {outcome.exception}")
    results = [
        NodeResult(r.node.name, r.node.resource_type, str(r.status), r.message)
        for r in outcome.result.results
    ]
    failed = [r for r in results if r.status in {"error", "fail", "runtime error"}]
    if failed or not outcome.success:
        detail = "; ".join(f"{r.resource_type} {r.name}: {r.status} ({r.message})" for r in failed)
        raise DbtBuildFailed(f"dbt build {selection} failed: {detail or 'see dbt logs'}")
    return results
