from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from jaffle_ops.affected import affected

PYPROJECT = """
[tool.hatch.envs.ingestion]
env-vars = { PLATFORM_PACKAGE = "packages/ingestion" }
[tool.hatch.envs.ml-forecast]
env-vars = { PLATFORM_PACKAGE = "packages/ml_forecast" }
[tool.hatch.envs.coordinator]
env-vars = { PLATFORM_PACKAGE = "coordinator" }
[tool.hatch.envs.ops]
env-vars = { PLATFORM_PACKAGE = "ops" }
[tool.hatch.envs.lint]
dependencies = ["ruff"]
"""


def _project(name: str, *dependencies: str) -> str:
    return f"[project]\nname = {name!r}\ndependencies = {list(dependencies)!r}\n".replace("'", '"')


FILES = {
    "pyproject.toml": PYPROJECT,
    "README.md": "# platform\n",
    "tools/lock.py": "print('lock')\n",
    "packages/ingestion/src/jaffle_ingestion/flows.py": "x = 1\n",
    "packages/ingestion/requirements.lock": "pandas==3.0.0\n",
    "packages/ml_forecast/src/jaffle_ml_forecast/flows.py": "y = 1\n",
    "packages/ml_forecast/requirements.lock": "pandas==2.3.3\n",
    "packages/ml_forecast/prefect.yaml": (
        "deployments:\n  - name: sales-forecast\n    work_pool: {name: ml-forecast}\n"
    ),
    "packages/ingestion/src/jaffle_ingestion/datasets.toml": (
        '[[produces]]\nname = "raw.orders"\nlocation = "lake/raw/orders"\nformat = "parquet"\n'
        'freshness_hours = 36\ncolumns = [{ name = "id", type = "string" }]\n'
    ),
    "packages/ml_forecast/src/jaffle_ml_forecast/datasets.toml": (
        '[[consumes]]\nname = "raw.orders"\ncolumns = { id = "string" }\n'
    ),
    "coordinator/src/jaffle_coordinator/plan.py": "z = 1\n",
    "ops/src/jaffle_ops/cli.py": "o = 1\n",
    "tests/integration/test_platform.py": "def test(): pass\n",
    "bench/forecast.py": "pass\n",
    # what each package declares of the platform's libraries (jaffle-data declares jaffle-contract)
    "packages/ingestion/pyproject.toml": _project("i", "jaffle-data", "pandas>=2"),
    "packages/ml_forecast/pyproject.toml": _project("m", "jaffle_runtime>=0.1", "jaffle-contract"),
    "coordinator/pyproject.toml": _project("c", "jaffle-contract"),
    "ops/pyproject.toml": _project("o", "Jaffle.Contract", "jaffle-runtime", "jaffle-data"),
    "libs/jaffle_contract/pyproject.toml": _project("jaffle-contract", "pydantic>=2"),
    "libs/jaffle_contract/src/jaffle_contract/window.py": "w = 0\n",
    "libs/jaffle_runtime/pyproject.toml": _project("jaffle-runtime", "prefect>=3"),
    "libs/jaffle_runtime/src/jaffle_runtime/launcher.py": "l = 0\n",
    "libs/jaffle_data/pyproject.toml": _project("jaffle-data", "jaffle-contract"),
    "libs/jaffle_data/src/jaffle_data/storage.py": "s = 0\n",
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "base")
    return tmp_path


def _commit(repo: Path, changes: dict[str, str]) -> None:
    for name, text in changes.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "change")


EVERY = ["coordinator", "ingestion", "ml-forecast", "ops"]


@pytest.mark.parametrize(
    ("changes", "teams"),
    [
        ({"packages/ml_forecast/src/jaffle_ml_forecast/flows.py": "y = 2\n"}, ["ml-forecast"]),
        # what ingestion lands, ml reads: its tests run on fixtures made from ingestion's declarations
        ({"packages/ingestion/requirements.lock": "pandas==3.0.1\n"}, ["ingestion", "ml-forecast"]),
        # how ingestion is packaged or tested changes nothing ml reads
        ({"packages/ingestion/Dockerfile": "FROM b\n", "packages/ingestion/tests/t.py": "x"}, ["ingestion"]),
        ({"packages/ml_forecast/src/jaffle_ml_forecast/datasets.toml": "\n"}, ["ml-forecast"]),
        ({"coordinator/src/jaffle_coordinator/plan.py": "z = 2\n"}, ["coordinator"]),
        # a plan that calls the forecast runs the ML team's (contract) tests against it
        (
            {"coordinator/src/jaffle_coordinator/plan.py": "STAGES = (deployments.SALES_FORECAST,)\n"},
            ["coordinator", "ml-forecast"],
        ),
        ({"ops/src/jaffle_ops/cli.py": "o = 2\n"}, ["ops"]),
        ({"tests/integration/test_platform.py": "def test(): assert 1\n"}, ["ops"]),
        ({"pyproject.toml": PYPROJECT + "\n# tooling\n"}, EVERY),
        ({"tools/lock.py": "print('lock!')\n"}, EVERY),
        ({".github/workflows/teams.yml": "on: push\n"}, EVERY),
        # a library affects the packages that declare it, directly or through another library
        ({"libs/jaffle_contract/src/jaffle_contract/window.py": "w = 1\n"}, EVERY),
        ({"libs/jaffle_runtime/src/jaffle_runtime/launcher.py": "l = 1\n"}, ["ml-forecast", "ops"]),
        # ... and then, as any change to what a team's data is made by, that team's readers
        ({"libs/jaffle_data/src/jaffle_data/storage.py": "s = 1\n"}, ["ingestion", "ml-forecast", "ops"]),
        ({"libs/NOTES": "unknown\n"}, EVERY),
        ({"README.md": "# platform!\n", "bench/forecast.py": "pass  # faster\n", "docs/a.png": "png"}, []),
    ],
)
def test_changes_map_to_the_teams_they_affect(repo, changes, teams):
    base = _git(repo, "rev-parse", "HEAD")
    _commit(repo, changes)
    found = affected(repo, base)
    assert found.teams == teams
    assert sorted(found.changed) == sorted(changes)


def test_history_over_several_commits_and_uncommitted_files_count(repo):
    base = _git(repo, "rev-parse", "HEAD")
    _commit(repo, {"packages/ingestion/src/jaffle_ingestion/flows.py": "x = 2\n"})
    _commit(repo, {"README.md": "# docs\n"})
    (repo / "packages/ml_forecast/src/jaffle_ml_forecast/new.py").write_text("new = 1\n")  # not committed yet
    found = affected(repo, base)
    assert found.teams == ["ingestion", "ml-forecast"]
    assert found.reasons["ml-forecast"] == ["packages/ml_forecast/src/jaffle_ml_forecast/new.py"]
    assert found.reasons["ingestion"] == ["packages/ingestion/src/jaffle_ingestion/flows.py"]
    assert affected(repo, "HEAD~1").teams == ["ml-forecast"]  # only what changed since then


def test_a_change_to_a_producer_affects_its_readers_and_their_readers(repo):
    _commit(
        repo,
        {
            "pyproject.toml": PYPROJECT
            + '[tool.hatch.envs.dashboards]\nenv-vars = { PLATFORM_PACKAGE = "packages/dashboards" }\n',
            "packages/ml_forecast/src/jaffle_ml_forecast/datasets.toml": (
                '[[consumes]]\nname = "raw.orders"\ncolumns = { id = "string" }\n'
                '[[produces]]\nname = "ml.forecast"\nlocation = "lake/ml/forecast"\nformat = "parquet"\n'
                'upstream = ["raw.orders"]\nfreshness_hours = 36\n'
                'columns = [{ name = "id", type = "string" }]\n'
            ),
            "packages/dashboards/src/jaffle_dashboards/datasets.toml": (
                '[[consumes]]\nname = "ml.forecast"\ncolumns = { id = "string" }\n'
            ),
        },
    )
    base = _git(repo, "rev-parse", "HEAD")
    _commit(repo, {"packages/ingestion/src/jaffle_ingestion/flows.py": "x = 3\n"})
    found = affected(repo, base)
    assert found.teams == ["dashboards", "ingestion", "ml-forecast"]
    assert found.reasons["dashboards"] == ["downstream of ingestion's datasets"]


def test_an_unknown_ref_is_a_clear_error(repo):
    with pytest.raises(ValueError, match="git rev-parse --verify no-such-ref"):
        affected(repo, "no-such-ref")


def test_a_first_push_compares_with_the_empty_tree_and_affects_every_team(repo):
    empty_tree = _git(repo, "hash-object", "-t", "tree", "/dev/null")
    found = affected(repo, empty_tree)
    assert found.teams == EVERY
    assert sorted(found.changed) == sorted(FILES)
    assert found.as_json()["folders"] == {
        "ingestion": "packages/ingestion",
        "ml-forecast": "packages/ml_forecast",
        "coordinator": "coordinator",
        "ops": "ops",
    }
