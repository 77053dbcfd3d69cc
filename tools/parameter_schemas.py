"""Print the parameter schema of every deployment of one package, as the server stores it.

Run in the package's own environment (only there do its entrypoints import), e.g.
`hatch run ml-forecast:python tools/parameter_schemas.py`; the package is PLATFORM_PACKAGE, which
hatch sets. The output is sorted JSON, so two dumps compare byte for byte (a refactor must not change
what the Prefect UI offers a team).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    package = ROOT / os.environ["PLATFORM_PACKAGE"]
    spec = yaml.safe_load((package / "prefect.yaml").read_text())
    schemas = {
        deployment["name"]: parameter_schema(
            load_flow_from_entrypoint(str(package / deployment["entrypoint"]))
        ).model_dump(mode="json")
        for deployment in spec["deployments"]
    }
    print(json.dumps(schemas, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
