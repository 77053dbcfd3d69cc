"""`./dev new-team NAME [--reads DATASET ...]`: a team package built the way the others are.

It writes `packages/<name>/` (pyproject.toml, README.md, Dockerfile, prefect.yaml, a flow module with a
typed, titled parameter model, plain logic with its tests, and a `datasets.toml` that declares what the
team reads and the one dataset it writes), its registry entry in the root pyproject.toml, its locks
(tools/lock.py), and every file made from the registry (`./dev generate`: CODEOWNERS, compose workers,
the Kubernetes manifests, the parent's plan). The flow it writes runs as is: for each day of a run's
window it records which of the team's inputs hold that day, a starting point the team replaces with its
work. A name that clashes, or that no system can take, is refused with the reason, before any file is
written.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from string import Template

from jaffle_contract import contracts, naming

from jaffle_ops import generated
from jaffle_ops.errors import PlatformError
from jaffle_ops.workspace import COORDINATOR, packages, teams

# The team environments are written before this line of the root pyproject.toml (the platform's own
# packages follow it).
PLATFORM_ENVS = "[tool.hatch.envs.coordinator]"


def refusal(root: Path, name: str, reads: list[str]) -> str | None:
    """Why `name` cannot be a new team reading `reads` here, or None."""
    folder = naming.normalise(name)
    problem = naming.problem(folder)
    if problem:
        return problem
    names = naming.of(folder)
    if (root / "packages" / folder).exists():
        return f"packages/{folder} exists already"
    envs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["hatch"]["envs"]
    if names.team in envs or names.team == "default" or names.team.startswith("hatch-"):
        return f"the hatch environment {names.team!r} exists already or is hatch's own"
    for existing in packages(root):
        theirs = naming.of(existing.package.name)
        if names.team == theirs.team or names.import_name == theirs.import_name:
            where = existing.package.relative_to(root)
            return f"{name!r} is the name of the {existing.env} package ({where})"
    deployed = {d["name"] for team in teams(root) for d in team.deployments}
    if names.team in deployed:
        return f"a deployment is called {names.team!r} already: the new team's flow would clash with it"
    produced = {d.name for declared in contracts.load_all(root) for d in declared.produces}
    if f"{folder}.input_days" in produced:
        return f"the dataset {folder}.input_days exists already"
    unknown = [dataset for dataset in reads if dataset not in produced]
    if unknown:
        return f"no team produces {', '.join(unknown)} (known datasets: {', '.join(sorted(produced))})"
    return None


def _prefect_requirement(root: Path) -> str:
    """The platform's own Prefect requirement line (the coordinator's), comment and all."""
    text = (root / COORDINATOR / "pyproject.toml").read_text()
    found = re.search(r'^\s*"prefect[<>=~!][^"]*",.*$', text, re.MULTILINE)
    if not found:
        raise PlatformError(f"{COORDINATOR}/pyproject.toml names no prefect requirement to copy")
    return found.group(0).strip()


def _prefect_version(root: Path) -> str:
    found = re.search(r"^prefect-version: (.+)$", (root / COORDINATOR / "prefect.yaml").read_text(), re.M)
    if not found:
        raise PlatformError(f"{COORDINATOR}/prefect.yaml has no prefect-version to copy")
    return found.group(1).strip()


def _consumes(root: Path, reads: list[str]) -> str:
    """`[[consumes]]` entries for `reads`: the day column of each, as its producer declares it."""
    declared = {d.name: d for team in contracts.load_all(root) for d in team.produces}
    entries = []
    for name in reads:
        produced = declared[name]
        day = produced.column(produced.partition_by) if produced.partition_by else None
        columns = f'{{ {day.name} = "{day.type}" }}' if day else "{}"
        entries.append(f'[[consumes]]\nname = "{name}"\ncolumns = {columns}\n')
    return "\n".join(entries)


def files(root: Path, name: str, reads: list[str]) -> dict[str, str]:
    """Every file of the new package (path relative to the root -> text)."""
    names = naming.of(naming.normalise(name))
    folder = f"packages/{names.folder}"
    values = {
        "team": names.team,
        "folder": folder,
        "import_name": names.import_name,
        "distribution": names.distribution,
        "function": f"{names.folder}_flow",  # never a name the module itself uses
        "dataset": f"{names.folder}.input_days",
        "folder_name": names.folder,
        "prefect_requirement": _prefect_requirement(root),
        "prefect_version": _prefect_version(root),
        "upstream": ", ".join(f'"{dataset}"' for dataset in reads),
        "consumes": _consumes(root, reads),
        "reads": ", ".join(reads) or "nothing yet",
        # a test imports its package beside the libraries, sorted by module as isort does
        "test_imports": "\n".join(
            sorted(
                [
                    "from jaffle_contract import contracts",
                    "from jaffle_data import coverage",
                    "from jaffle_data.storage import Storage",
                    f"from {names.import_name} import logic",
                ],
                key=lambda line: line.split()[1],
            )
        ),
    }
    source = f"{folder}/src/{names.import_name}"
    made = {
        f"{folder}/pyproject.toml": PYPROJECT,
        f"{folder}/README.md": README,
        f"{folder}/Dockerfile": DOCKERFILE,
        f"{folder}/prefect.yaml": PREFECT_YAML,
        f"{source}/__init__.py": '"""The $team team\'s flows and logic."""\n',
        f"{source}/datasets.toml": DATASETS,
        f"{source}/logic.py": LOGIC,
        f"{source}/flows.py": FLOWS,
        f"{folder}/tests/test_logic.py": TEST,
    }
    return {path: Template(text).substitute(values) for path, text in made.items()}


def registry_entry(name: str) -> str:
    names = naming.of(naming.normalise(name))
    return Template(ENV).substitute(team=names.team, folder=f"packages/{names.folder}")


def create(root: Path, name: str, reads: list[str], lock: bool = True) -> list[str]:
    """Write the new team; returns what was written, in order. Refused (PlatformError) before any write."""
    reason = refusal(root, name, reads)
    if reason:
        raise PlatformError(f"cannot add team {name!r}: {reason}")
    written = []
    for path, text in files(root, name, reads).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
        written.append(path)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    at = text.index(PLATFORM_ENVS) if PLATFORM_ENVS in text else len(text)
    # before the comment block that introduces the platform's packages
    at = text.rfind("\n\n", 0, at) + 2 if at < len(text) else at
    pyproject.write_text(text[:at] + registry_entry(name) + "\n" + text[at:])
    written.append("pyproject.toml")
    team = naming.of(naming.normalise(name)).team
    if lock:
        subprocess.run([sys.executable, str(root / "tools" / "lock.py"), team], cwd=root, check=True)
        folder = f"packages/{naming.normalise(name)}"
        written += [f"{folder}/requirements.lock", f"{folder}/runtime.lock"]
    written += generated.write(root)
    return written


ENV = """\
[tool.hatch.envs.$team]
installer = "uv"
skip-install = true
workspace.members = ["$folder", "libs/*"]
dependencies = ["pytest>=8"]
lock-filename = "$folder/requirements.lock"
env-vars = { UV_CONSTRAINT = "{root}/$folder/requirements.lock", PLATFORM_PACKAGE = "$folder" }
[tool.hatch.envs.$team.scripts]
test = "pytest $folder/tests tests/contract {args}"
"""

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "$distribution"
version = "0.1.0"
description = "The $team team's flows: what it reads ($reads) and the datasets it writes."
readme = "README.md"
requires-python = ">=3.11"
dependencies = [
  "jaffle-contract",  # the platform's declarations (libs/jaffle_contract), from the workspace
  "jaffle-runtime",  # how its flow runs start: the warm launcher, the process worker (libs/jaffle_runtime)
  "jaffle-data",  # the data plane: storage, coverage, lineage (libs/jaffle_data)
  $prefect_requirement
  "pyarrow>=15",  # the dataset's Parquet partitions
  "pydantic-settings>=2.4",  # the data root's settings (jaffle_data.storage)
  "s3fs>=2024.6",  # the data root may be an object store (jaffle_data.storage, through fsspec)
]

[tool.hatch.build.targets.wheel]
packages = ["src/$import_name"]

# What the platform needs to know of this team beyond its code (read by ./dev, the manifests, CI):
# run-resources, backfill-cap, in-order, ci-services (see the other teams' for examples).
[tool.jaffle]
"""

README = """\
# $distribution

The $team team's package: its flows, its logic, its datasets (`src/$import_name/datasets.toml`),
its locked dependencies and its image (`Dockerfile`). Made by `./dev new-team`; the flow it started
with records, for each day of a run's window, which of the team's inputs ($reads) hold that day, in
`$dataset`. Replace `logic.py` with the team's work and declare what it writes.

    hatch run $team:test     # its tests and the platform's contract tests, in its own environment
    ./dev lock $team         # after a dependency change in pyproject.toml
    ./dev deploy $team       # register only this package's deployments
    ./dev images $team       # its image

The parent flow runs `$team` once the producers of what it reads have completed (`./dev generate`
derives the plan from `datasets.toml`: run it after changing what the team reads or writes).
"""

DOCKERFILE = """\
# The $team team's image, built from the repository root by `./dev images` on the platform's base
# images (docker/platform.Dockerfile: the non-root user, /data, the CA handling, labels and environment).
ARG PLATFORM_DEPENDENCIES=jaffle-platform-dependencies
ARG PLATFORM=jaffle-platform

# The locked dependencies, in a layer of their own: unchanged lock, unchanged layer.
FROM $${PLATFORM_DEPENDENCIES} AS dependencies
COPY $folder/runtime.lock /tmp/runtime.lock
RUN jaffle-install-lock /tmp/runtime.lock

FROM $${PLATFORM}
# System packages, if the team needs any: `USER root`, `RUN apt-get ...`, then `USER 10001:10001`.
COPY --from=dependencies /opt/venv /opt/venv
COPY libs/ /opt/jaffle/libs/
COPY $folder/ /opt/jaffle/$folder/
"""

PREFECT_YAML = """\
# The $team team's deployments. Deploy only this package with:  ./dev deploy $team
name: $team
prefect-version: $prefect_version

# Where the flow's source is when it runs: the checkout for process workers (the platform CLI sets
# JAFFLE_PACKAGE_DIR for them), /opt/jaffle/<folder> in the team's image (its Dockerfile sets it).
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{{ $$JAFFLE_PACKAGE_DIR }}"

deployments:
  - name: $team
    entrypoint: src/$import_name/flows.py:$function
    description: Record which of the $team team's inputs hold each day of the window.
    tags: [team:$team]
    parameters: {}
    work_pool:
      name: $team
      work_queue_name: default
"""

DATASETS = """\
# The $team team's datasets: what it writes (with its columns, checked before every write) and what it
# reads (the columns it uses). The parent runs the team once the producers of its reads have completed.

[[produces]]
name = "$dataset"
description = "Which of the team's inputs hold each day of a run's window."
location = "lake/$folder_name/input_days"
format = "parquet"
key = ["day", "dataset"]
partition_by = "day"
upstream = [$upstream]
freshness_hours = 36
columns = [
  { name = "day", type = "date", nullable = false },
  { name = "dataset", type = "string", nullable = false },
  { name = "held", type = "bool", nullable = false },
]

$consumes"""

LOGIC = '''\
"""The team's work, as plain functions (no Prefect here): tested as such in tests/."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from jaffle_contract import contracts
from jaffle_contract.datasets import PUBLISHED_MODE
from jaffle_data import coverage
from jaffle_data.storage import Storage


def input_days(
    storage: Storage, places: Iterable[coverage.Place], days: list[date], dataset: contracts.Produced
) -> pa.Table:
    """For each day and input, whether the input holds that day (a dataset that is not by day holds
    every day once it exists), as `dataset`'s declared table."""
    held = {
        place.name: coverage.days(storage, place)
        if place.by_day
        else (set(days) if coverage.exists(storage, place) else set())
        for place in places
    }
    rows = [(day, name, day in held[name]) for day in days for name in sorted(held)]
    return pa.Table.from_pylist(
        [{"day": day, "dataset": name, "held": has} for day, name, has in rows],
        schema=contracts.arrow_schema(dataset, pa),
    )


def write(storage: Storage, dataset: contracts.Produced, table: pa.Table) -> list[str]:
    """One partition per day, each replaced whole (atomically: storage.write_bytes); where they went."""
    assert dataset.partition_by, f"{dataset.name} declares no partition column"
    written = []
    column = table[dataset.partition_by].to_pylist()
    for day in sorted(set(column)):
        part = table.filter(pc.equal(table[dataset.partition_by], pa.scalar(day)))
        buffer = io.BytesIO()
        pq.write_table(part, buffer)
        target = (dataset.location, f"{dataset.partition_by}={day.isoformat()}", coverage.PARTITION_FILE)
        written.append(storage.write_bytes(buffer.getvalue(), *target, mode=PUBLISHED_MODE))
    return written
'''

FLOWS = '''\
"""The team's flows, each deployed under its flow's name (prefect.yaml)."""

from __future__ import annotations

from datetime import date

from jaffle_contract import contracts, runtime
from jaffle_contract.parameters import parameter
from jaffle_data import coverage, lineage
from jaffle_data.storage import DataSettings
from jaffle_contract.window import resolve_window
from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_table_artifact

from $import_name import logic

# by name: Prefect loads this file as a script, where __package__ is not the package
DECLARATIONS = contracts.load_installed("$import_name")
OUTPUT = DECLARATIONS.produced("$dataset")


@task(name="read-places")
def read_places() -> dict[str, coverage.Place]:
    """Where the datasets this team reads live: the catalogs the platform saves when teams deploy."""
    with get_client(sync_client=True) as client:
        values = [
            v.value
            for v in client.read_variables()
            if v.name.startswith(coverage.CATALOG_PREFIX) and isinstance(v.value, dict)
        ]
    places = coverage.places(values)
    missing = [name for name in OUTPUT.upstream if name not in places]
    if missing:
        raise LookupError(f"no catalog places {', '.join(missing)}: deploy its team with ./dev deploy")
    return places


@flow(name="$team")
def $function(
    start_date: date | None = parameter(
        None, "First day", "First day of the window, inclusive. Empty: the last day, or yesterday."
    ),
    end_date: date | None = parameter(
        None, "Last day", "Last day of the window, inclusive. Empty: the first day, or yesterday."
    ),
) -> dict:
    """Record which of the team's inputs hold each day of the window."""
    window = resolve_window(start_date, end_date)
    settings = DataSettings()
    places = read_places()
    with lineage.materializing(DECLARATIONS, [OUTPUT.name], window=str(window)):
        inputs = [places[name] for name in OUTPUT.upstream]
        table = logic.input_days(settings.storage, inputs, window.days, OUTPUT)
        written = logic.write(settings.storage, OUTPUT, table)
    record = runtime.runtime_record(("prefect", "pyarrow"))
    create_table_artifact(
        key=runtime.artifact_key(DECLARATIONS.team), table=[record], description=runtime.DESCRIPTION
    )
    get_run_logger().info("Wrote %d partitions of %s for %s", len(written), OUTPUT.name, window)
    return {"window": str(window), "partitions": len(written), "rows": table.num_rows}
'''

TEST = '''\
"""The team's logic, on a data folder of its own."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow.parquet as pq
$test_imports

DECLARATIONS = contracts.load_installed("$import_name")
OUTPUT = DECLARATIONS.produced("$dataset")
DAYS = [date(2024, 3, 1) + timedelta(days=n) for n in range(3)]


def test_each_day_says_which_inputs_hold_it_and_lands_in_its_declared_place(tmp_path):
    storage = Storage(tmp_path)
    # an input by day that holds the first two days of three
    place = coverage.Place("upstream.by_day", "lake/upstream/by_day", "parquet", "day")
    for day in DAYS[:2]:
        folder = tmp_path / place.location / f"day={day.isoformat()}"
        folder.mkdir(parents=True)
        (folder / coverage.PARTITION_FILE).write_bytes(b"parquet")
    table = logic.input_days(storage, [place], DAYS, OUTPUT)
    assert table.to_pylist() == [
        {"day": DAYS[0], "dataset": "upstream.by_day", "held": True},
        {"day": DAYS[1], "dataset": "upstream.by_day", "held": True},
        {"day": DAYS[2], "dataset": "upstream.by_day", "held": False},
    ]
    written = logic.write(storage, OUTPUT, table)
    assert len(written) == 3
    output = coverage.Place.of(OUTPUT)
    assert coverage.days(storage, output) == set(DAYS)  # the platform sees every day it wrote
    last = tmp_path / OUTPUT.location / f"day={DAYS[2].isoformat()}" / coverage.PARTITION_FILE
    again = pq.read_table(last)
    assert again.to_pylist() == [{"day": DAYS[2], "dataset": "upstream.by_day", "held": False}]


def test_a_rerun_replaces_its_days_and_keeps_the_others(tmp_path):
    storage = Storage(tmp_path)
    first = logic.input_days(storage, [], DAYS, OUTPUT)  # no inputs: nothing to say, partitions none
    assert first.num_rows == 0 and logic.write(storage, OUTPUT, first) == []
    place = coverage.Place("upstream.page", "pages/latest.html", "html")
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages/latest.html").write_text("<html>")
    logic.write(storage, OUTPUT, logic.input_days(storage, [place], DAYS, OUTPUT))
    logic.write(storage, OUTPUT, logic.input_days(storage, [place], DAYS[:1], OUTPUT))
    assert coverage.days(storage, coverage.Place.of(OUTPUT)) == set(DAYS)
'''
