"""`jaffle-ops`: the platform's operations CLI, owned by the platform team (`./dev COMMAND`).

    up        start the Prefect server (SQLite), one process work pool and one worker per team, each
              worker inside that team's own hatch environment; register every deployment
    run       trigger the coordinator's parent deployment for a date range and follow its children;
              --resume RUN_ID retries a parent that did not complete, reusing its completed children
    backfill  backfill a date range as a grid of (team deployment, chunk) cells, drawn live
    status    what is up
    deploy    register the deployments of some (default all) packages
    images    build packages' images with content-hash tags (push them with --registry, --prune old ones)
    affected  which packages the changes since a git ref affect (CI's matrix)
    kubernetes  check (or --write) the Kubernetes manifests of a server and one worker per team
    generate  rewrite (or --check) the files made from the registry: CODEOWNERS, compose, manifests
    new-team  scaffold a team package the way the others are built, with its entry, locks and files
    down      stop exactly the processes `up` started; data stays
    secret    print the local API secret; rotate-secret replaces it (and restarts what runs)
    demo      up, then run the last four weeks

Everything lives under the platform home (default `.platform/` in the checkout): the Prefect
database, logs of the server and workers, pid files, and the data (lake, warehouse, dashboards).
Packages are found from the workspace's hatch environments that set `PLATFORM_PACKAGE`
(`workspace.py`); no team code is imported here.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
from jaffle_contract import deployments
from jaffle_contract.deployments import BACKFILL

from jaffle_ops.commands import build, lifecycle, runs
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import INFRAS, Platform
from jaffle_ops.settings import OpsSettings
from jaffle_ops.workspace import repo_root


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="jaffle-ops", description=__doc__.split("\n\n")[0])
    top.add_argument(
        "--home", type=Path, help="platform home (default: JAFFLE_PLATFORM_HOME, or .platform/ here)"
    )
    top.add_argument("--port", type=int, help="local server port (default: JAFFLE_PLATFORM_PORT, 4200)")
    top.add_argument(
        "--api-url",
        help="a Prefect API this CLI did not start, e.g. the compose stack's http://127.0.0.1:4200/api "
        "(deploy, run, backfill, status; default: the local platform's)",
    )
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start server, pools, deployments and workers")
    up.add_argument("--paused-schedules", action="store_true", help="deploy with schedules paused")
    up.add_argument(
        "--infra",
        choices=INFRAS,
        help="run flows in each team's environment (process, the default) or its image (docker)",
    )
    dep = sub.add_parser("deploy", help="register deployments of some packages (default all)")
    dep.add_argument("teams", nargs="*", help="teams (environment = folder name), e.g. ml dbt")
    dep.add_argument("--paused-schedules", action="store_true")
    dep.add_argument(
        "--infra",
        choices=INFRAS,
        help="the pools' type; docker builds only these teams' images (default: as `up` chose)",
    )
    registry_help = (
        "push the images to this registry (e.g. ghcr.io/acme or 127.0.0.1:5000) and run "
        "flows from there, so workers on other machines can pull them (default: JAFFLE_REGISTRY)"
    )
    dep.add_argument("--registry", help=registry_help)
    dep.add_argument(
        "--docker-network",
        default="host",
        help="Docker network of the flow containers (default host; jaffle-stack for docker/compose.yaml)",
    )
    for name in ("run", "demo"):
        run = sub.add_parser(name, help="run the platform for a date range and follow it")
        run.add_argument("--start", type=date.fromisoformat)
        run.add_argument("--end", type=date.fromisoformat)
        run.add_argument(
            "--days",
            type=int,
            default=28 if name == "demo" else None,
            help="the last N days up to --end (default yesterday)",
        )
        run.add_argument(
            "--fire-and-forget",
            action="append",
            metavar="DEPLOYMENT",
            help="do not wait for this child (only one no other child reads from, e.g. dashboards)",
        )
        if name == "run":
            run.add_argument(
                "--resume",
                metavar="RUN_ID",
                help="retry this parent (or backfill) run: reuse its children that completed, rerun the rest",
            )
        if name == "demo":
            run.add_argument("--paused-schedules", action="store_true", help="deploy with schedules paused")
            run.add_argument("--infra", choices=INFRAS, help="as for `up`")
    back = sub.add_parser(
        "backfill", help="backfill a date range as a grid of (team deployment, chunk) cells, drawn live"
    )
    back.add_argument("--start", type=date.fromisoformat, required=True)
    back.add_argument("--end", type=date.fromisoformat, required=True)
    back.add_argument(
        "--chunk-days", type=int, default=BACKFILL.chunk_days, help="days per chunk (one column of the grid)"
    )
    back.add_argument(
        "--reprocess",
        choices=deployments.REPROCESS,
        default=BACKFILL.reprocess,
        help="all cells; missing: those whose outputs the data lacks for their window; failed: those "
        "that did not complete in the last backfill of this range",
    )
    back.add_argument(
        "--cap",
        action="append",
        metavar="TEAM=N",
        help="at most N cells of a team at once, e.g. --cap ingestion=3 (default: each team's own)",
    )
    back.add_argument(
        "--attempts", type=int, default=BACKFILL.attempts, help="runs of a cell before it fails"
    )
    back.add_argument(
        "--backoff-seconds", type=float, default=BACKFILL.backoff_seconds, help="before a retry; doubles"
    )
    back.add_argument("--dry-run", action="store_true", help="list the cells that would run, and why")
    land = sub.add_parser(
        "land", help="copy a folder of exports into the landing folder, then land a window of them"
    )
    land.add_argument(
        "folder", nargs="?", help="CSV or Parquet files: native raw tables or Jaffle Shop exports"
    )
    land.add_argument("--start", type=date.fromisoformat, required=True)
    land.add_argument("--end", type=date.fromisoformat, required=True)
    land.add_argument("--source", choices=sorted(deployments.INGESTED), default="jaffle_shop")
    img = sub.add_parser("images", help="build teams' images (default all); unchanged ones are cached")
    img.add_argument("teams", nargs="*", help="teams (environment = folder name), e.g. ml dbt")
    img.add_argument("--registry", help=registry_help)
    img.add_argument(
        "--prune",
        action="store_true",
        help="then remove the tags of these teams' older builds (content tags, local or "
        "registry-qualified; never latest or a name you gave), freeing images no container uses",
    )
    aff = sub.add_parser("affected", help="which teams the changes since a git ref affect")
    aff.add_argument("--since", required=True, help="a git ref, e.g. origin/main or HEAD~1")
    aff.add_argument("--json", action="store_true", help="machine-readable output for CI")
    kube = sub.add_parser(
        "kubernetes",
        help="validate, or --write, the manifests of a cluster: server, PostgreSQL, a worker per team",
    )
    kube.add_argument(
        "--write", type=Path, metavar="FOLDER", help="write them there (e.g. deploy/kubernetes)"
    )
    new = sub.add_parser(
        "new-team", help="scaffold a team package, its registry entry, locks and generated files"
    )
    new.add_argument("name", help="the team's folder name under packages/ (e.g. finance)")
    new.add_argument(
        "--reads",
        action="append",
        default=[],
        metavar="DATASET",
        help="a dataset the team reads, e.g. jaffle_shop.daily_store_revenue (repeat for more)",
    )
    gen = sub.add_parser(
        "generate", help="rewrite the files made from the registry: CODEOWNERS, compose workers, manifests"
    )
    gen.add_argument("--check", action="store_true", help="only say which are stale (exit 2 if any)")
    sub.add_parser("status", help="what is up")
    sub.add_parser("secret", help="print the local API secret (the UI's login asks for it)")
    sub.add_parser("rotate-secret", help="replace the local API secret and restart what is running with it")
    sub.add_parser("down", help="stop what up started; keep data")
    return top


COMMANDS = {
    "affected": build.cmd_affected,
    "images": build.cmd_images,
    "deploy": build.cmd_deploy,
    "up": lifecycle.cmd_up,
    "status": lifecycle.cmd_status,
    "down": lifecycle.cmd_down,
    "demo": lifecycle.cmd_demo,
    "secret": lifecycle.cmd_secret,
    "rotate-secret": lifecycle.cmd_rotate_secret,
    "run": runs.cmd_run,
    "backfill": runs.cmd_backfill,
    "land": runs.cmd_land,
    "kubernetes": build.cmd_kubernetes,
    "generate": build.cmd_generate,
    "new-team": build.cmd_new_team,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        platform = Platform.from_settings(
            repo_root(),
            OpsSettings(),
            home=args.home,
            port=args.port,
            remote_api_url=args.api_url,
            registry=getattr(args, "registry", None),
        )
        return COMMANDS[args.command](platform, args)
    except (PlatformError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}", file=sys.stderr)
        return 2
    except httpx.HTTPStatusError as exc:
        print(f"error: {refusal(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        from prefect.exceptions import ObjectNotFound

        if not isinstance(exc, ObjectNotFound):
            raise
        print(f"error: not on the Prefect API (deploy first?): {exc.http_exc or exc}", file=sys.stderr)
        return 2


def refusal(exc: httpx.HTTPStatusError) -> str:
    """What an API's refusal means, for the person at the terminal (no traceback)."""
    status, request = exc.response.status_code, exc.request
    said = f"the Prefect API answered {status} to {request.method} {request.url}"
    if status in (401, 403):
        return (
            f"{said}: it did not take the secret. For the local platform, ./dev secret shows it (./dev "
            "rotate-secret makes a new one); for another API, set JAFFLE_API_AUTH_STRING (user:password)"
        )
    if status == 404:
        return f"{said}: not there (deploy first?)"
    return f"{said}: {exc.response.text[:300]}"


if __name__ == "__main__":
    sys.exit(main())
