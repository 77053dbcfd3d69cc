"""`./dev new-team NAME [--reads DATASET ...]`: a team package built the way the others are.

It writes `packages/<name>/` (pyproject.toml, README.md, Dockerfile, prefect.yaml, a flow module with a
typed, titled parameter model, plain logic with its tests, and a `datasets.toml` that declares what the
team reads and the one dataset it writes), its registry entry in the root pyproject.toml, its locks
(tools/lock.py), and every file made from the registry (`./dev generate`: CODEOWNERS, compose workers,
the Kubernetes manifests, the parent's plan). The flow it writes runs as is: for each day of a run's
window it records which of the team's inputs hold that day, a starting point the team replaces with its
work. A name that clashes, or that no system can take, is refused with the reason, before any file is
written. The files' text is package data (`templates/new_team/<file name>.tmpl`, string.Template: `$name`
placeholders, `$$` for a literal dollar sign).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path, PurePosixPath
from string import Template

from jaffle_contract import contracts, naming

from jaffle_ops import generated
from jaffle_ops.errors import PlatformError
from jaffle_ops.workspace import COORDINATOR, packages, teams

# The team environments are written before this line of the root pyproject.toml (the platform's own
# packages follow it).
PLATFORM_ENVS = "[tool.hatch.envs.coordinator]"
# One template per file the new team gets, named after it. datasets.toml.tmpl ends without a newline: the
# `[[consumes]]` entries that follow its last line bring their own.
TEMPLATES = resources.files("jaffle_ops") / "templates" / "new_team"


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


def _template(name: str) -> Template:
    return Template((TEMPLATES / f"{name}.tmpl").read_text())


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
    made = [f"{folder}/{file}" for file in ("pyproject.toml", "README.md", "Dockerfile", "prefect.yaml")]
    made += [f"{source}/{file}" for file in ("__init__.py", "datasets.toml", "logic.py", "flows.py")]
    made.append(f"{folder}/tests/test_logic.py")
    return {path: _template(PurePosixPath(path).name).substitute(values) for path in made}


def registry_entry(name: str) -> str:
    """The new team's hatch environment, for the root pyproject.toml."""
    names = naming.of(naming.normalise(name))
    return _template("registry_entry.toml").substitute(team=names.team, folder=f"packages/{names.folder}")


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
