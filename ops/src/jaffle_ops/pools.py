"""Work pools a team cannot use to take over its host.

A Docker pool's base job template is prefect-docker's own, cut down to the variables a team needs
(its image, environment, resources, the run's name, labels and command). Everything that decides what
a container may do to its host is fixed in the template by the platform, not a variable: no
privileges, every capability dropped, no new privileges, the platform's network and data mount only,
and the platform's user. The variables schema forbids any other key, so the server refuses a
deployment or a run that asks for one (`privileged`, `volumes`, `container_create_kwargs`, ...).
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

# What a team's deployment may set on a Docker pool.
TEAM_VARIABLES = (
    "image",
    "image_pull_policy",
    "registry_credentials",
    "env",
    "labels",
    "name",
    "command",
    "mem_limit",
    "memswap_limit",
    "stream_output",
    "auto_remove",
)
# What the container gets regardless of the deployment (the Docker SDK's `containers.create` options).
HARDENING = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}


_VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]+$")


def data_mount(
    docker_data: str | None, home_data: Path, data_url: str | None
) -> tuple[str | None, str | None]:
    """(what is mounted at /data, the uid:gid runs use) for a Docker pool.

    - an object-store data root (`data_url`): nothing mounted, the image's own user;
    - `volume:NAME`: a named volume, the image's own user (its /data is that user's, and a new volume
      starts as a copy of it): nothing of the deploying machine in the template;
    - an absolute folder every worker host shares: the image's own user (uid 10001) writes it;
    - unset: this home's data folder, as the caller's uid:gid, so its files stay theirs (a laptop)."""
    if data_url:
        return None, None
    if docker_data is None:
        home_data.mkdir(parents=True, exist_ok=True)
        return str(home_data), f"{os.getuid()}:{os.getgid()}"
    if docker_data.startswith("volume:") and _VOLUME.match(docker_data.removeprefix("volume:")):
        return docker_data.removeprefix("volume:"), None
    if docker_data.startswith("/"):
        return docker_data, None
    raise ValueError(
        f"JAFFLE_DOCKER_DATA={docker_data!r}: expected volume:NAME (a named volume) or an absolute folder "
        "every worker host shares"
    )


def docker_template(
    data: str | Path | None, network: str = "host", user: str | None = None
) -> dict[str, Any]:
    """The base job template of a team's Docker pool on this platform: flow runs on `network` (the
    host's for the local platform, whose server is on 127.0.0.1; the compose stack's by name), `data` (a
    host folder or a named volume; None: nothing, the data is on an object store) at /data, run as
    `user` (uid:gid; None: the image's own non-root user)."""
    from prefect_docker.worker import DockerWorker

    template: dict[str, Any] = copy.deepcopy(DockerWorker.get_default_base_job_template())
    variables = template["variables"]
    variables["properties"] = {k: v for k, v in variables["properties"].items() if k in TEAM_VARIABLES}
    variables["additionalProperties"] = False
    job = template["job_configuration"]
    for name in list(job):
        if name not in TEAM_VARIABLES:
            del job[name]
    job.update(
        {
            "privileged": False,
            "volumes": [f"{data}:/data"] if data is not None else [],
            "container_create_kwargs": {**HARDENING, **({"user": user} if user else {})},
            **({"network_mode": "host"} if network == "host" else {"networks": [network]}),
        }
    )
    return template
