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


def docker_template(data_dir: Path, network: str = "host", user: str | None = None) -> dict[str, Any]:
    """The base job template of a team's Docker pool on this platform: flow runs on `network` (the
    host's for the local platform, whose server is on 127.0.0.1; the compose stack's by name), the data
    folder at /data, run as `user` (uid:gid, so files on a host folder stay its owner's)."""
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
            "volumes": [f"{data_dir}:/data"],
            "container_create_kwargs": {**HARDENING, **({"user": user} if user else {})},
            **({"network_mode": "host"} if network == "host" else {"networks": [network]}),
        }
    )
    return template
