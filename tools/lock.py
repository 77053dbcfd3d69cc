"""Re-resolve every locked hatch environment of the workspace with uv.

Each environment declared in the root pyproject.toml with a `lock-filename` gets a lock: every
package its workspace members and dependencies need, pinned with hashes, resolved as of the date in
`[tool.uv] exclude-newer`. hatch installs environments with that lock as uv's constraint file
(`UV_CONSTRAINT`), so what lands in an environment is exactly what the lock says.

A team environment (one with workspace members) also gets `runtime.lock` beside its lock: only what the
members themselves need at run time (no pytest, no playwright, no test tooling), resolved with the
environment's lock as constraint so every version is the one the tests ran against. The team's
Dockerfile installs that file with `--require-hashes`.

    ./dev lock                 re-resolve all, keeping versions where still allowed
    ./dev lock --upgrade       take the newest versions the resolution date allows
    ./dev lock --check         exit 1 if a lock no longer matches its inputs
    ./dev lock --prefect 3.9.1 ml-forecast   one team's Prefect moved (what `./dev upgrade` runs)

Prefect: the platform's own environments (ops, which runs the server, and the coordinator) are pinned to
the root pyproject's `[tool.jaffle] prefect`; a team's (`packages/`) is held to it or older, and keeps
the version its lock has until it is moved (a client is never newer than its server). The compatibility
tier's environment (`compat`: ops' by hatch's `template`) is pinned to `[tool.jaffle] prefect-oldest`,
the oldest Prefect the platform supports, and has no runtime lock (no image is built from it).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPAT = "compat"  # ops' environment on the oldest supported Prefect: the compatibility tier's
OLDEST = "prefect-oldest"  # its key in [tool.jaffle]


def locked_environments() -> dict[str, dict]:
    """Every environment with a lock, one that names a `template` with the template's keys filled in
    (a key the environment sets itself wins, as hatch merges them)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    envs = config["tool"]["hatch"]["envs"]
    return {
        name: {**envs.get(env.get("template", ""), {}), **env}
        for name, env in envs.items()
        if "lock-filename" in env
    }


def exclude_newer() -> list[str]:
    """uv's resolution date, and any package allowed a later one (`exclude-newer-package`)."""
    uv = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]
    flags = ["--exclude-newer", uv["exclude-newer"]]
    for package, date in sorted(uv.get("exclude-newer-package", {}).items()):
        flags += ["--exclude-newer-package", f"{package}={date}"]
    return flags


def members_of(env: dict) -> list[Path]:
    """An environment's workspace members, with hatch's glob patterns (`libs/*`) expanded to the
    folders that hold a project, as hatch expands them."""
    found: list[Path] = []
    for pattern in env.get("workspace", {}).get("members", []):
        found += sorted(path for path in ROOT.glob(pattern) if (path / "pyproject.toml").is_file())
    return found


def platform_prefect(key: str = "prefect") -> str:
    """The Prefect the platform's server and its own environments run (its one home), or with
    `OLDEST`, the oldest one it supports."""
    written = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"].get("jaffle", {}).get(key)
    if not written:
        raise SystemExit(f"pyproject.toml has no [tool.jaffle] {key}")
    return written


def prefect_constraint(name: str, env: dict, moved_to: str | None = None) -> str:
    """What an environment's lock may hold of Prefect: a team's (its package under packages/) the
    platform's version or older, unless it is being moved; the platform's own, exactly its version;
    the compatibility tier's, exactly the oldest supported."""
    if moved_to:
        return f"prefect=={moved_to}"
    if name == COMPAT:
        return f"prefect=={platform_prefect(OLDEST)}"
    package = env.get("env-vars", {}).get("PLATFORM_PACKAGE", "")
    relation = "<=" if package.startswith("packages/") else "=="
    return f"prefect{relation}{platform_prefect()}"


def requirements_for(env: dict, lock_dir: Path) -> list[str]:
    lines = [f"-e {os.path.relpath(member, lock_dir)}" for member in members_of(env)]
    return lines + list(env.get("dependencies", []))


def member_names(env: dict) -> list[str]:
    return [tomllib.loads((m / "pyproject.toml").read_text())["project"]["name"] for m in members_of(env)]


def runtime_lock_path(name: str, env: dict) -> Path | None:
    """Where a team environment's runtime-only lock lives (None for tool environments and the
    compatibility tier's, which only runs tests)."""
    if name == COMPAT or not env.get("workspace", {}).get("members"):
        return None
    return (ROOT / env["lock-filename"]).with_name("runtime.lock")


def compile_lock(
    name: str,
    env: dict,
    output: Path,
    upgrade: bool,
    runtime_of: Path | None = None,
    prefect: str | None = None,
) -> None:
    """Resolve `env` into `output`; with `runtime_of` (the environment's full lock), only the
    members' own dependencies, pinned to the versions that lock holds; with `prefect`, that Prefect."""
    lock_dir = output.parent
    lock_dir.mkdir(parents=True, exist_ok=True)
    lines = requirements_for(env, lock_dir)
    if runtime_of is not None:
        lines = [line for line in lines if line.startswith("-e ")]
    # A stable input name: uv writes it into the lock's "via" comments, and `--check` compares them.
    requirements = lock_dir / (name.replace(" (run)", ".runtime") + ".in")
    requirements.write_text("\n".join(lines) + "\n")
    command = [
        "uv",
        "pip",
        "compile",
        requirements.name,
        "--generate-hashes",
        "--no-header",
        "--quiet",
        "--python-version",
        "3.11",
        *exclude_newer(),
        "--output-file",
        output.name,
    ]
    # The members themselves are installed editable from the checkout, not from the lock.
    for member in member_names(env):
        command += ["--no-emit-package", member]
    if runtime_of is not None:
        # Not --constraint: uv rejects hashes there. Seeding from the full lock with --output-file
        # semantics would allow drift, so each pin of the full lock becomes a constraint line.
        constraints = requirements.with_suffix(".pins.txt")  # stable: named in the lock too
        constraints.write_text("\n".join(f"{n}=={v}" for n, v in pins(runtime_of).items()) + "\n")
        command += ["--constraint", constraints.name]
    else:
        constraints = requirements.with_suffix(".prefect.txt")  # stable: named in the lock too
        constraints.write_text(prefect_constraint(name, env, prefect) + "\n")
        command += ["--constraint", constraints.name]
        if upgrade:
            command.append("--upgrade")
        elif prefect:
            command += ["--upgrade-package", "prefect"]
    try:
        if subprocess.run(command, cwd=lock_dir).returncode != 0:
            raise SystemExit(f"locking {name} failed (uv says why, above); its lock is unchanged")
    finally:
        requirements.unlink(missing_ok=True)
        constraints.unlink(missing_ok=True)
    print(f"locked {name:<12} -> {output.relative_to(ROOT)}")


def pins(lock: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", lock.read_text(), flags=re.MULTILINE)
    return dict(found)


def pinned(lock: Path) -> list[str]:
    """A lock without its comments: hatch re-writes locks on sync with its own "via" file names."""
    return [line for line in lock.read_text().splitlines() if not line.strip().startswith("#")]


def lock_environment(
    name: str, env: dict, lock: Path, runtime: Path | None, upgrade: bool, prefect: str | None = None
) -> None:
    compile_lock(name, env, lock, upgrade=upgrade, prefect=prefect)
    if runtime is not None:
        compile_lock(f"{name} (run)", env, runtime, upgrade=False, runtime_of=lock)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="take the newest allowed versions")
    parser.add_argument("--check", action="store_true", help="fail if any lock is stale")
    parser.add_argument("--prefect", metavar="VERSION", help="move the named environments to this Prefect")
    parser.add_argument("envs", nargs="*", help="environments to lock (default: all)")
    args = parser.parse_args()
    if args.prefect and not args.envs:
        parser.error("--prefect moves the environments named (the platform's own move with its version)")

    environments = locked_environments()
    unknown = set(args.envs) - set(environments)
    if unknown:
        parser.error(
            f"no locked environment named {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(environments))}"
        )
    stale = []
    for name in args.envs or sorted(environments):
        env = environments[name]
        lock = ROOT / env["lock-filename"]
        runtime = runtime_lock_path(name, env)
        if args.check:
            fresh = lock.with_name("check.lock")
            fresh_runtime = lock.with_name("check.runtime.lock") if runtime else None
            try:
                for committed, copy in ((lock, fresh), (runtime, fresh_runtime)):
                    if committed is not None and committed.exists():
                        copy.write_bytes(committed.read_bytes())
                lock_environment(name, env, fresh, fresh_runtime, upgrade=False)
                for committed, copy in ((lock, fresh), (runtime, fresh_runtime)):
                    if committed is not None and (
                        not committed.exists() or pinned(copy) != pinned(committed)
                    ):
                        stale.append(str(committed.relative_to(ROOT)))
            finally:
                fresh.unlink(missing_ok=True)
                if fresh_runtime is not None:
                    fresh_runtime.unlink(missing_ok=True)
        else:
            lock_environment(name, env, lock, runtime, upgrade=args.upgrade, prefect=args.prefect)
    if stale:
        print(f"stale locks: {', '.join(stale)}; run ./dev lock", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
