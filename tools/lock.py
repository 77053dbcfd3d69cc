"""Re-resolve every locked hatch environment of the workspace with uv.

Each environment declared in the root pyproject.toml with a `lock-filename` gets a lock: every
package its workspace members and dependencies need, pinned with hashes, resolved as of the date in
`[tool.uv] exclude-newer`. hatch installs environments with that lock as uv's constraint file
(`UV_CONSTRAINT`), so what lands in an environment is exactly what the lock says; Dockerfiles install
the same file with `--require-hashes`.

    ./dev lock                 re-resolve all, keeping versions where still allowed
    ./dev lock --upgrade       take the newest versions the resolution date allows
    ./dev lock --check         exit 1 if a lock no longer matches its inputs
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def locked_environments() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    envs = config["tool"]["hatch"]["envs"]
    return {name: env for name, env in envs.items() if "lock-filename" in env}


def exclude_newer() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["exclude-newer"]


def requirements_for(env: dict, lock_dir: Path) -> list[str]:
    members = env.get("workspace", {}).get("members", [])
    lines = [f"-e {os.path.relpath(ROOT / member, lock_dir)}" for member in members]
    return lines + list(env.get("dependencies", []))


def member_names(env: dict) -> list[str]:
    members = env.get("workspace", {}).get("members", [])
    return [tomllib.loads((ROOT / m / "pyproject.toml").read_text())["project"]["name"] for m in members]


def compile_lock(name: str, env: dict, output: Path, upgrade: bool) -> None:
    lock_dir = output.parent
    lock_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=lock_dir, suffix=".in", delete=False) as handle:
        handle.write("\n".join(requirements_for(env, lock_dir)) + "\n")
        requirements = Path(handle.name)
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
        "--exclude-newer",
        exclude_newer(),
        "--output-file",
        output.name,
    ]
    # The members themselves are installed editable from the checkout, not from the lock.
    for member in member_names(env):
        command += ["--no-emit-package", member]
    if upgrade:
        command.append("--upgrade")
    try:
        subprocess.run(command, cwd=lock_dir, check=True)
    finally:
        requirements.unlink(missing_ok=True)
    print(f"locked {name:<12} -> {output.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="take the newest allowed versions")
    parser.add_argument("--check", action="store_true", help="fail if any lock is stale")
    parser.add_argument("envs", nargs="*", help="environments to lock (default: all)")
    args = parser.parse_args()

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
        if args.check:
            fresh = lock.with_name("pylock.check.toml")
            try:
                if lock.exists():
                    fresh.write_bytes(lock.read_bytes())
                compile_lock(name, env, fresh, upgrade=False)
                if not lock.exists() or fresh.read_text() != lock.read_text():
                    stale.append(name)
            finally:
                fresh.unlink(missing_ok=True)
        else:
            compile_lock(name, env, lock, upgrade=args.upgrade)
    if stale:
        print(f"stale locks: {', '.join(stale)}; run ./dev lock", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
