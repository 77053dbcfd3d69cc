"""The test suite: lint, each team's tests in its own environment, then the platform's tests.

`./dev test` (what CI runs) is every suite and every tier, in two lanes side by side: the team suites
and then the platform's docker and security tiers in one, the platform's other tiers (unit, contract,
faults, integration, browser) in the other; the compatibility tier (`-m compat`) on the oldest Prefect
the platform supports, in its own environment, and on the newest, in ops', ends the first lane. Each suite
and part has its own environment, temporary folders, Prefect servers, images by content hash and free
ports, so nothing is shared but the two cores. `--serial` runs everything one after another.

`./dev test --quick` is the everyday loop: lint, and beside it every suite's unit tests (every test
without a tier marker, the contract tests among them) in its own environment, three suites at a time.

Each part's output is printed whole when it ends (and kept in test-artifacts/logs/), so lanes never
interleave. The run ends on a table of every part and tier (its wall time and test count) and the ten
slowest tests, also written to test-artifacts/test-times.md, then one closing line,
'N passed, N failed', summed over every part (read from JUnit XML, kept in test-artifacts/junit/).
Lint (ruff, hadolint, actionlint, the locks' and generated files' freshness, then mypy) counts as one
test.
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import threading
import time
import tomllib
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from lock import COMPAT, OLDEST, platform_prefect
from pytest_tiers import TIERS

ROOT = Path(__file__).resolve().parent.parent
OPS = "ops"  # the platform's suite: its longest, split in two parts that run side by side
# The platform's tiers that build images and attack a platform (CPU-bound) run beside the ones that
# wait on a platform (faults, integration), with the alerts' scenarios (which wait, and would make that
# lane the longer): the two lanes end at about the same time.
BESIDE_THE_TEAMS = ("docker", "security", "alerts")
ARTIFACTS = Path(os.environ.get("JAFFLE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
SLOWEST = 10
QUICK_LANES = 3  # unit tests wait on their Prefect test servers as much as they compute


class Times:
    """Wall time and test count per suite and tier, and every test's own time (JUnit's)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int, float]] = []  # suite, tier, tests, seconds
        self.tests: list[tuple[float, str]] = []
        self.wall = 0.0

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
        lines = ["| suite | tier | tests | seconds |", "| --- | --- | ---: | ---: |"]
        lines += [f"| {suite} | {tier} | {n} | {s:.0f} |" for suite, tier, n, s in self.rows]
        tests = sum(n for _, t, n, _ in self.rows if t == "all")
        lines += [f"| all (wall clock) | all | {tests} | {self.wall:.0f} |"]
        lines += ["", f"The {SLOWEST} slowest tests (setup, call and teardown):", ""]
        lines += [f"- {s:.1f} s {name}" for s, name in sorted(self.tests, reverse=True)[:SLOWEST]]
        return "\n".join(lines)


def suites() -> list[str]:
    """Every package environment of the workspace (those naming their package), ops last."""
    envs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["envs"]
    teams = [name for name, env in envs.items() if "PLATFORM_PACKAGE" in env.get("env-vars", {})]
    return sorted(teams, key=lambda name: (name == OPS, teams.index(name)))


Part = tuple[str, str, list[str]]  # its name in the table, its environment, its own pytest arguments


def last_seconds(name: str) -> float:
    """How long a part's tests took the last time they ran here (0 if they never did)."""
    try:
        report = ET.parse(ARTIFACTS / "junit" / f"{name}.xml").getroot()
        return float(report.find(".//testsuite").get("time", 0))
    except (OSError, ET.ParseError, AttributeError, TypeError, ValueError):
        return 0.0


def balanced(parts: list[Part], count: int, seconds=last_seconds) -> list[list[Part]]:
    """`count` lanes, longest part first into the lane that ends soonest (by the last run's times;
    the suites' order when there are none)."""
    found: list[tuple[float, list[Part]]] = [(0.0, []) for _ in range(count)]
    for part in sorted(parts, key=lambda p: -seconds(p[0])):
        total, lane = min(found, key=lambda f: f[0])
        found[found.index((total, lane))] = (total + seconds(part[0]), [*lane, part])
    return [lane for _, lane in found]


def lanes(names: list[str], quick: bool, serial: bool) -> list[list[Part]]:
    """Which parts run one after another in each lane (the lanes run side by side)."""
    if quick:
        parts: list[Part] = [(name, name, []) for name in names]
        return [parts] if serial else balanced(parts, QUICK_LANES)
    beside = " or ".join(BESIDE_THE_TEAMS)
    teams: list[Part] = [(name, name, []) for name in names if name != OPS]
    # The compatibility tier's tests (marked `compat`, named for its environment) run once on each
    # Prefect: the oldest supported in that environment, the newest in ops' (and not in ops' other part).
    compat: list[Part] = [
        (f"{COMPAT}-{platform_prefect(OLDEST)}", COMPAT, ["-m", COMPAT]),
        (f"{COMPAT}-{platform_prefect()}", OPS, ["-m", COMPAT]),
    ]
    platform: Part = (OPS, OPS, ["-m", f"not ({beside} or {COMPAT})"])
    docker: Part = (f"{OPS}-{'-'.join(BESIDE_THE_TEAMS)}", OPS, ["-m", beside])
    if serial:
        return [[*teams, platform, *compat, docker]]
    # The platform's other tiers are the longer lane (36 min of 40 in the last full run): the
    # compatibility tier runs after the team suites and the image builds instead.
    return [[*teams, docker, *compat], [platform]]


class Runner:
    def __init__(self, pytest_args: list[str]) -> None:
        self.pytest_args = pytest_args
        self.times = Times()
        self.passed = self.failed = self.skipped = 0
        self.broken: list[str] = []
        self.printing = threading.Lock()
        # every suite loads tools/pytest_tiers.py, which tags each test with its tier for the table
        paths = [str(ROOT / "tools"), os.environ.get("PYTHONPATH", "")]
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}

    def say(self, text: str) -> None:
        with self.printing:
            print(text, flush=True)

    def lint(self) -> None:
        self.say("----- lint: started")
        log = ARTIFACTS / "logs" / "lint.log"
        began = time.monotonic()
        steps = (["lint:check"], ["ops:cli", "generate", "--check"], ["ops:types"])
        quiet = {"cwd": ROOT, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
        with log.open("wb") as out:
            codes = [subprocess.run(["hatch", "run", *s], stdout=out, **quiet).returncode for s in steps]
        with self.printing:
            wall = time.monotonic() - began
            print(f"\n===== lint: ruff, hadolint, actionlint, locks, generated files, mypy ({wall:.0f} s)")
            sys.stdout.write(log.read_text(errors="replace"))
            sys.stdout.flush()
            self.times.rows.append(("lint", "all", 1, wall))
            if not any(codes):
                self.passed += 1
            else:
                self.broken.append("lint")
                self.failed += 1

    def suite(self, part: Part) -> None:
        name, env, own = part
        report = ARTIFACTS / "junit" / f"{name}.xml"
        log = ARTIFACTS / "logs" / f"{name}.log"
        report.unlink(missing_ok=True)
        self.say(f"----- {name}: started")
        began = time.monotonic()
        command = ["hatch", "run", f"{env}:test", f"--junitxml={report}", "-p", "pytest_tiers"]
        with log.open("wb") as out:
            code = subprocess.run(
                [*command, *own, *self.pytest_args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            ).returncode
        wall = time.monotonic() - began
        found = ET.parse(report).getroot() if report.exists() else None
        found = found.find("testsuite") if found is not None and found.tag == "testsuites" else found
        with self.printing:
            print(f"\n===== {name}: tests in the {env} environment ({wall:.0f} s; {log}) =====", flush=True)
            sys.stdout.write(log.read_text(errors="replace"))
            sys.stdout.flush()
            self.times.add(name, wall, found)
            if found is None:
                self.broken.append(name)
                self.failed += 1
                return
            total, errors, fails = (int(found.get(k, 0)) for k in ("tests", "errors", "failures"))
            skips = int(found.get("skipped", 0))
            self.passed += total - errors - fails - skips
            self.failed += errors + fails
            self.skipped += skips
            if code != 0:
                self.broken.append(name)

    def lane(self, parts: list[Part], errors: queue.Queue[BaseException]) -> None:
        try:
            for part in parts:
                self.suite(part)
        except BaseException as error:  # reported by the main thread
            errors.put(error)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="./dev test", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="lint and every suite's unit tests only")
    parser.add_argument("--serial", action="store_true", help="one suite at a time")
    options, pytest_args = parser.parse_known_args(argv)
    if options.quick:  # every tier marker deselected: what is left are the unit and contract tests
        pytest_args = ["-m", f"not ({' or '.join(TIERS)})", *pytest_args]
    for folder in ("junit", "logs"):
        (ARTIFACTS / folder).mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    runner = Runner(pytest_args)
    errors: queue.Queue[BaseException] = queue.Queue()
    threads = [
        threading.Thread(target=runner.lane, args=(parts, errors))
        for parts in lanes(suites(), options.quick, options.serial)
        if parts
    ]
    # The quick loop lints beside its suites (lint writes scratch locks beside the committed ones, which
    # no unit test reads); the full run lints first: its platforms run from the packages' folders.
    if options.quick and not options.serial:
        threads.append(threading.Thread(target=runner.lint))
    else:
        runner.lint()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if not errors.empty():
        raise errors.get()
    runner.times.wall = time.monotonic() - began
    table = runner.times.table()
    (ARTIFACTS / "test-times.md").write_text(f"# Test times\n\n{table}\n")
    print(f"\n===== times (also in {ARTIFACTS / 'test-times.md'}) =====\n{table}")
    print(f"\nsuites with failures: {', '.join(runner.broken)}" if runner.broken else "\nall suites green")
    print(f"{runner.passed} passed, {runner.failed} failed, {runner.skipped} skipped")
    return 1 if runner.broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
