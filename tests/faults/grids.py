"""The backfill grid as the artifact, the CLI and the API show it, for the scenarios that read it."""

from __future__ import annotations

import json

from .harness import Platform


def grid_table(platform: Platform, parent_id, prefix: str = "backfill-grid-") -> list[dict]:
    """The newest grid (or dry-run plan) table artifact of a backfill run, as rows."""
    data = grid_artifact(platform, parent_id, prefix).data
    return json.loads(data) if isinstance(data, str) else data


def grid_artifact(platform: Platform, parent_id, prefix: str = "backfill-grid-"):
    """The newest grid (or dry-run plan) table artifact of a backfill run."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with platform.client() as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[parent_id]),
                key=ArtifactFilterKey(like_=f"{prefix}%"),
            ),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    return found[0]


def grid_states(table: list[dict]) -> dict[str, str]:
    """`{cell name: state}` from a grid table (cells are named `<child> <window>`, as their runs are;
    a cell spanning several columns stands in its first)."""
    from jaffle_contract.deployments import grid_cells

    return {
        f"{row['child']} {window}": text.split()[1].rstrip(":")  # `<symbol> <state>[: why | link]`
        for row in table
        for window, text in grid_cells(row, [column for column in row if column not in ("child", "team")])
    }


def printed_grid(out: str, children: int) -> dict[str, list[str]]:
    """`{child: [state of each chunk]}` from the last grid the CLI printed on a log (a header line of
    chunks, a line per child, then the `cells ended` line)."""
    lines = out.rsplit("cells ended", 1)[0].splitlines()[:-1]
    return {line.split()[0]: line.split()[1:] for line in lines[-children:]}
