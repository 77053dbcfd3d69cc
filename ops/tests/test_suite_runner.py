"""The suite runner (`./dev test`, tools/test_all.py): which suites run where, and what --quick keeps."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


sys.path.insert(0, str(ROOT / "tools"))
tiers = _load("pytest_tiers")
runner = _load("test_all")


def test_every_marker_the_suites_declare_is_a_tier_the_quick_loop_leaves_out():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    markers = {line.split(":")[0] for line in declared["markers"]}
    # but the selections across tiers: the compatibility tier's (whose unit tests the quick loop keeps)
    # and the alerts' (faults scenarios, which the quick loop leaves out as faults)
    assert set(tiers.TIERS) == markers - {runner.COMPAT, "alerts"}


def test_the_full_run_runs_every_tier_once_in_two_lanes_the_teams_beside_the_platform():
    names = runner.suites()
    assert names[-1] == runner.OPS and {"ingestion", "dbt-transform", "coordinator"} <= set(names)
    first, second = runner.lanes(names, quick=False, serial=False)
    teams, (docker, ops, beside), compat = first[:-3], first[-3], first[-2:]
    assert [env for _, env, _ in teams] == names[:-1] and all(not own for _, _, own in teams)
    [(rest, ops_again, not_beside)] = second
    assert ops == ops_again == runner.OPS and docker != rest
    # in ops' environment, one part takes the tiers beside the teams, one the compatibility tier and
    # the other every other test: none twice, none lost
    assert beside == ["-m", "docker or security or alerts"]
    assert not_beside == ["-m", "not (docker or security or alerts or compat)"]
    # the compatibility tier once on the oldest supported Prefect, in its environment, once on the newest
    oldest, newest = runner.platform_prefect(runner.OLDEST), runner.platform_prefect()
    assert compat == [
        (f"compat-{oldest}", runner.COMPAT, ["-m", "compat"]),
        (f"compat-{newest}", runner.OPS, ["-m", "compat"]),
    ]
    assert sorted(runner.lanes(names, quick=False, serial=True)[0]) == sorted([*first, *second])


def test_the_quick_loop_runs_every_suite_once_across_its_lanes():
    names = runner.suites()
    lanes = runner.lanes(names, quick=True, serial=False)
    assert len(lanes) == runner.QUICK_LANES
    assert sorted(env for lane in lanes for _, env, own in lane if not own) == sorted(names)


def test_a_push_runs_the_quick_loop_and_a_commit_runs_lint():
    hooks = {
        hook["entry"]: hook["stages"]
        for repo in yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
        for hook in repo["hooks"]
    }
    assert hooks == {"./dev lint": ["pre-commit"], "./dev test --quick": ["pre-push"]}


def test_the_quick_loop_starts_the_longest_suites_first_each_in_the_lane_that_ends_soonest():
    last = {"dbt-transform": 370, "ops": 300, "ingestion": 160, "coordinator": 100, "ml-forecast": 80}
    parts = [(name, name, []) for name in [*last, "dashboards"]]
    lanes = runner.balanced(parts, 3, seconds=lambda name: last.get(name, 0))
    assert [[name for name, _, _ in lane] for lane in lanes] == [
        ["dbt-transform"],
        ["ops", "dashboards"],
        ["ingestion", "coordinator", "ml-forecast"],
    ]
