"""The full test suite: lint, each team's tests in its own environment, then the platform's tests.

Ends on a table of every suite and tier (its wall time and test count) and the ten slowest tests, also
written to test-artifacts/test-times.md, then one closing line, 'N passed, N failed', summed over every
suite (read from JUnit XML). Lint (ruff, hadolint, actionlint, the locks' freshness, then mypy) counts
as one test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPS = "ops"  # its suite runs last: the cross-team tiers start real platforms
ARTIFACTS = Path(os.environ.get("JAFFLE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
SLOWEST = 10


class Times:
    """Wall time and test count per suite and tier, and every test's own time (JUnit's)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int, float]] = []  # suite, tier, tests, seconds
        self.tests: list[tuple[float, str]] = []

    def add(self, suite: str, wall: float, report: ET.Element | None) -> None:
        tiers: dict[str, list[float]] = defaultdict(list)
        for case in report.iter("testcase") if report is not None else ():
            seconds = float(case.get("time", 0) or 0)
            tier = next((p.get("value") for p in case.iter("property") if p.get("name") == "tier"), "unit")
            tiers[tier or "unit"].append(seconds)
            self.tests.append((seconds, f"{suite}: {case.get('classname', '')}::{case.get('name', '')}"))
        self.rows.append((suite, "all", sum(len(t) for t in tiers.values()), wall))
        for tier, seconds in sorted(tiers.items()):
            self.rows.append((suite, tier, len(seconds), sum(seconds)))

    def table(self) -> str:
        total = sum(wall for _, tier, _, wall in self.rows if tier == "all")
        lines = ["| suite | tier | tests | seconds |", "| --- | --- | ---: | ---: |"]
        lines += [f"| {suite} | {tier} | {n} | {s:.0f} |" for suite, tier, n, s in self.rows]
        lines += [f"| all | all | {sum(n for _, t, n, _ in self.rows if t == 'all')} | {total:.0f} |"]
        lines += ["", f"The {SLOWEST} slowest tests (setup, call and teardown):", ""]
        lines += [f"- {s:.1f} s {name}" for s, name in sorted(self.tests, reverse=True)[:SLOWEST]]
        return "\n".join(lines)


def suites() -> list[str]:
    """Every package environment of the workspace (those naming their package), ops last."""
    envs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["envs"]
    teams = [name for name, env in envs.items() if "PLATFORM_PACKAGE" in env.get("env-vars", {})]
    return sorted(teams, key=lambda name: (name == OPS, teams.index(name)))


def main() -> int:
    passed = failed = skipped = 0
    broken = []
    times = Times()
    # every suite loads tools/pytest_tiers.py, which tags each test with its tier for the table
    paths = [str(ROOT / "tools"), os.environ.get("PYTHONPATH", "")]
    plugin = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    print("===== lint: ruff, hadolint, actionlint, locks, generated files, then mypy =====", flush=True)
    began = time.monotonic()
    linted = subprocess.run(["hatch", "run", "lint:check"], cwd=ROOT).returncode == 0
    generated = subprocess.run(["hatch", "run", "ops:cli", "generate", "--check"], cwd=ROOT).returncode == 0
    typed = subprocess.run(["hatch", "run", "ops:types"], cwd=ROOT).returncode == 0 and generated
    times.rows.append(("lint", "all", 1, time.monotonic() - began))
    if linted and typed:
        passed += 1
    else:
        broken.append("lint")
        failed += 1
    with tempfile.TemporaryDirectory() as scratch:
        for env in suites():
            report = Path(scratch) / f"{env}.xml"
            print(f"\n===== {env}: tests in its own environment =====", flush=True)
            began = time.monotonic()
            code = subprocess.run(
                ["hatch", "run", f"{env}:test", f"--junitxml={report}", "-p", "pytest_tiers", *sys.argv[1:]],
                cwd=ROOT,
                env=plugin,
            ).returncode
            if not report.exists():
                times.add(env, time.monotonic() - began, None)
                broken.append(env)
                failed += 1
                continue
            suite = ET.parse(report).getroot()
            suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
            times.add(env, time.monotonic() - began, suite)
            total, errors, fails = (int(suite.get(k, 0)) for k in ("tests", "errors", "failures"))
            skips = int(suite.get("skipped", 0))
            passed += total - errors - fails - skips
            failed += errors + fails
            skipped += skips
            if code != 0:
                broken.append(env)
    table = times.table()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "test-times.md").write_text(f"# Test times\n\n{table}\n")
    print(f"\n===== times (also in {ARTIFACTS / 'test-times.md'}) =====\n{table}")
    print(f"\nsuites with failures: {', '.join(broken)}" if broken else "\nall suites green")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
