"""The full test suite: lint, each team's tests in its own environment, then the platform's tests.

Prints one closing line, 'N passed, N failed', summed over every suite (read from JUnit XML).
Lint (ruff, hadolint, actionlint, the locks' freshness, then mypy) counts as one test.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPS = "ops"  # its suite runs last: the cross-team tiers start real platforms


def suites() -> list[str]:
    """Every package environment of the workspace (those naming their package), ops last."""
    envs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["envs"]
    teams = [name for name, env in envs.items() if "PLATFORM_PACKAGE" in env.get("env-vars", {})]
    return sorted(teams, key=lambda name: (name == OPS, teams.index(name)))


def main() -> int:
    passed = failed = skipped = 0
    broken = []
    print("===== lint: ruff, hadolint, actionlint, locks, then mypy =====", flush=True)
    linted = subprocess.run(["hatch", "run", "lint:check"], cwd=ROOT).returncode == 0
    typed = subprocess.run(["hatch", "run", "ops:types"], cwd=ROOT).returncode == 0
    if linted and typed:
        passed += 1
    else:
        broken.append("lint")
        failed += 1
    with tempfile.TemporaryDirectory() as scratch:
        for env in suites():
            report = Path(scratch) / f"{env}.xml"
            print(f"\n===== {env}: tests in its own environment =====", flush=True)
            code = subprocess.run(
                ["hatch", "run", f"{env}:test", f"--junitxml={report}", *sys.argv[1:]], cwd=ROOT
            ).returncode
            if not report.exists():
                broken.append(env)
                failed += 1
                continue
            suite = ET.parse(report).getroot()
            suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
            total, errors, fails = (int(suite.get(k, 0)) for k in ("tests", "errors", "failures"))
            skips = int(suite.get("skipped", 0))
            passed += total - errors - fails - skips
            failed += errors + fails
            skipped += skips
            if code != 0:
                broken.append(env)
    print(f"\nsuites with failures: {', '.join(broken)}" if broken else "\nall suites green")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
