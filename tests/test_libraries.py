"""Each platform library declares what it imports.

For every project under libs/, a fresh environment gets that library and only what it declares (its
PyPI requirements, pinned to ops' lock, and the platform libraries it names, by path). There, every
module of the library must import, and every module any of its code imports, at the top or inside a
function, must be found. A library that imports something it does not declare fails here, not in a
team's image.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = {
    tomllib.loads(project.read_text())["project"]["name"]: project.parent
    for project in sorted(ROOT.glob("libs/*/pyproject.toml"))
}
# Every library's PyPI requirements are in ops' environment (it runs their tests): its lock pins them.
PINS = ROOT / "ops/requirements.lock"

PROBE = """
import importlib, importlib.util, json, pkgutil, sys
package, imported = sys.argv[1], json.loads(sys.argv[2])
root = importlib.import_module(package)
modules = [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
for name in modules:
    importlib.import_module(name)
missing = sorted(name for name in imported if importlib.util.find_spec(name) is None)
print(json.dumps({"modules": [package, *modules], "missing": missing}))
"""


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools/bin/uv")  # ./dev installs it there
    assert Path(found).exists(), "uv not found: run ./dev once to bootstrap the toolchain"
    return found


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(folder: Path) -> list[str]:
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"].get("dependencies", [])


def _platform_closure(name: str) -> list[Path]:
    """The folders of `name` and of the platform libraries it declares, directly or through another."""
    by_name = {_normalized(n): folder for n, folder in LIBRARIES.items()}
    pending, seen = [_normalized(name)], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for requirement in _requirements(by_name[current]):
            declared = _normalized(re.split(r"[\s\[<>=!~;@(]", requirement, maxsplit=1)[0])
            if declared in by_name:
                pending.append(declared)
    return [by_name[n] for n in sorted(seen)]


def _imported_top_levels(package_dir: Path) -> set[str]:
    """Every top-level module the library's source imports, anywhere (lazy imports included)."""
    names = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - {"__future__"}


def test_every_library_is_found_and_its_name_is_kept_from_teams():
    from jaffle_contract import naming

    assert {"jaffle-contract", "jaffle-runtime", "jaffle-data"} <= set(LIBRARIES)
    for name, folder in LIBRARIES.items():
        assert folder.name == name.replace("-", "_") == f"{naming.PREFIX}_{folder.name.split('_', 1)[1]}"
        assert folder.name.split("_", 1)[1] in naming.RESERVED, f"a team could be named like {name}"


@pytest.mark.parametrize("name", sorted(LIBRARIES))
def test_a_library_imports_with_only_what_it_declares(name, tmp_path):
    folder = LIBRARIES[name]
    package = name.replace("-", "_")
    venv = tmp_path / "venv"
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    env.pop("UV_CONSTRAINT", None)  # hatch's, for the whole ops environment
    subprocess.run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, env=env)
    pins = tmp_path / "pins.txt"
    pins.write_text("\n".join(re.findall(r"^[A-Za-z0-9_.-]+==[^\s;\\]+", PINS.read_text(), re.MULTILINE)))
    installed = subprocess.run(
        [_uv(), "pip", "install", "--quiet", "--constraint", str(pins), *map(str, _platform_closure(name))],
        env=env,
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    imported = sorted(_imported_top_levels(folder / "src" / package))
    probe = subprocess.run(
        [str(venv / "bin/python"), "-c", PROBE, package, json.dumps(imported)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: only the environment's packages may be found
        env={key: value for key, value in env.items() if key != "PYTHONPATH"},
    )
    assert probe.returncode == 0, f"{name} does not import with only what it declares:\n{probe.stderr}"
    result = json.loads(probe.stdout.splitlines()[-1])
    assert result["missing"] == [], f"{name} imports {result['missing']} without declaring them"
    assert len(result["modules"]) == 1 + sum(
        1 for p in (folder / "src" / package).glob("*.py") if p.name != "__init__.py"
    )
