"""`jaffle-ops`: the platform's operations CLI, owned by the platform team (`./dev COMMAND`).

The commands and their options are written once, in `parser()` below: `hatch run ops:cli --help` lists
them, `./dev COMMAND --help` shows one's options.

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
from typing import TypeAlias

import httpx
from jaffle_contract import deployments
from jaffle_contract.deployments import BACKFILL

from jaffle_ops.commands import alerting, build, lifecycle, runs, upgrade
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import INFRAS, Platform
from jaffle_ops.settings import DEFAULT_PORT, OpsSettings
from jaffle_ops.workspace import repo_root

REGISTRY_HELP = (
    "push the images to this registry (e.g. ghcr.io/acme or 127.0.0.1:5000) and run "
    "flows from there, so workers on other machines can pull them (default: JAFFLE_REGISTRY)"
)
# The subcommands of the top-level parser, as argparse types them.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def parser() -> argparse.ArgumentParser:
    """The CLI: its global options, then each group of commands, in the order `--help` lists them.
    Each command's parser names the function that runs it (`handler`)."""
    top = argparse.ArgumentParser(prog="jaffle-ops", description=__doc__.split("\n\n")[0])
    _global_options(top)
    sub = top.add_subparsers(dest="command", required=True)
    _up_and_deploy(sub)
    _run_and_demo(sub)
    _backfill(sub)
    _land(sub)
    _build_commands(sub)
    _state_commands(sub)
    return top


def _global_options(top: argparse.ArgumentParser) -> None:
    top.add_argument(
        "--home", type=Path, help="platform home (default: JAFFLE_PLATFORM_HOME, or .platform/ here)"
    )
    top.add_argument(
        "--port", type=int, help=f"local server port (default: JAFFLE_PLATFORM_PORT, {DEFAULT_PORT})"
    )
    top.add_argument(
        "--api-url",
        help="a Prefect API this CLI did not start, e.g. the compose stack's "
        f"http://127.0.0.1:{DEFAULT_PORT}/api (deploy, run, backfill, status; default: the local platform's)",
    )


def at_least_one(text: str) -> int:
    """A count of days: a whole number of at least 1 (argparse names the option in its error)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"at least 1 day, not {number}")
    return number


def ingest_from(text: str) -> dict[str, str]:
    """`--ingest-from`: `landing`, or `jaffle_shop:landing[,marketing:synthetic]` (the contract's grammar)."""
    try:
        return dict(deployments.ingest_from(text, "--ingest-from"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _up_and_deploy(sub: Commands) -> None:
    up = sub.add_parser("up", help="start server, pools, deployments and workers")
    up.set_defaults(handler=lifecycle.cmd_up)
    up.add_argument("--paused-schedules", action="store_true", help="deploy with schedules paused")
    up.add_argument(
        "--infra",
        choices=INFRAS,
        help="run flows in each team's environment (process, the default) or its image (docker)",
    )
    dep = sub.add_parser("deploy", help="register deployments of some packages (default all)")
    dep.set_defaults(handler=build.cmd_deploy)
    dep.add_argument("teams", nargs="*", help="teams (environment = folder name), e.g. ml dbt")
    dep.add_argument("--paused-schedules", action="store_true")
    dep.add_argument(
        "--infra",
        choices=INFRAS,
        help="the pools' type; docker builds only these teams' images (default: as `up` chose)",
    )
    dep.add_argument("--registry", help=REGISTRY_HELP)
    dep.add_argument(
        "--docker-network",
        default="host",
        help="Docker network of the flow containers (default host; jaffle-stack for docker/compose.yaml)",
    )


def _run_and_demo(sub: Commands) -> None:
    for name, handler in (("run", runs.cmd_run), ("demo", lifecycle.cmd_demo)):
        run = sub.add_parser(name, help="run the platform for a date range and follow it")
        run.set_defaults(handler=handler)
        run.add_argument("--start", type=date.fromisoformat)
        run.add_argument("--end", type=date.fromisoformat)
        run.add_argument(
            "--days",
            type=at_least_one,
            default=28 if name == "demo" else None,
            help="the last N days up to --end (default yesterday)",
        )
        run.add_argument(
            "--fire-and-forget",
            action="append",
            metavar="DEPLOYMENT",
            help="do not wait for this child (only one no other child reads from, e.g. dashboards)",
        )
        run.add_argument(
            "--ingest-from",
            type=ingest_from,
            metavar="SOURCE:KIND",
            help="where sources land from in this run, e.g. jaffle_shop:landing (your files); "
            "default: the platform's JAFFLE_INGEST_FROM",
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


def _backfill(sub: Commands) -> None:
    """`backfill`'s flags are the backfill flow's options, with their defaults (`BACKFILL`)."""
    back = sub.add_parser(
        "backfill", help="backfill a date range as a grid of (team deployment, window) cells, drawn live"
    )
    back.set_defaults(handler=runs.cmd_backfill)
    back.add_argument("--start", type=date.fromisoformat, required=True)
    back.add_argument("--end", type=date.fromisoformat, required=True)
    back.add_argument(
        "--chunk-days",
        type=int,
        default=BACKFILL.chunk_days,
        help="days per cell for every team (default: each team's own cell size)",
    )
    back.add_argument(
        "--cell",
        action="append",
        metavar="TEAM=SIZE",
        help="one team's cells: days, or `once` for one cell over the range, e.g. --cell ml-forecast=7",
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


def _land(sub: Commands) -> None:
    land = sub.add_parser(
        "land",
        help="copy a folder of exports into the landing folder, then land a window of them (default: all)",
    )
    land.set_defaults(handler=runs.cmd_land)
    land.add_argument(
        "folder", nargs="?", help="CSV or Parquet files: native raw tables or Jaffle Shop exports"
    )
    land.add_argument(
        "--start",
        type=date.fromisoformat,
        help="first day (without --start and --end: every day the files hold)",
    )
    land.add_argument("--end", type=date.fromisoformat, help="last day (default: the first day)")
    land.add_argument("--source", choices=sorted(deployments.INGESTED), default="jaffle_shop")
    land.add_argument(
        "--no-build",
        action="store_true",
        help="only land (default: the last run is the parent's over its window, landing it from the "
        "files and building every team on it)",
    )


def _build_commands(sub: Commands) -> None:
    """Images, CI's matrix and the files made from the registry."""
    img = sub.add_parser("images", help="build teams' images (default all); unchanged ones are cached")
    img.set_defaults(handler=build.cmd_images)
    img.add_argument("teams", nargs="*", help="teams (environment = folder name), e.g. ml dbt")
    img.add_argument("--registry", help=REGISTRY_HELP)
    img.add_argument(
        "--prune",
        action="store_true",
        help="then remove the tags of these teams' older builds (content tags, local or "
        "registry-qualified; never latest or a name you gave), freeing images no container uses",
    )
    aff = sub.add_parser("affected", help="which teams the changes since a git ref affect")
    aff.set_defaults(handler=build.cmd_affected)
    aff.add_argument("--since", required=True, help="a git ref, e.g. origin/main or HEAD~1")
    aff.add_argument("--json", action="store_true", help="machine-readable output for CI")
    kube = sub.add_parser(
        "kubernetes",
        help="validate, or --write, the manifests of a cluster: server, PostgreSQL, a worker per team",
    )
    kube.set_defaults(handler=build.cmd_kubernetes)
    kube.add_argument(
        "--write", type=Path, metavar="FOLDER", help="write them there (e.g. deploy/kubernetes)"
    )
    new = sub.add_parser(
        "new-team", help="scaffold a team package, its registry entry, locks and generated files"
    )
    new.set_defaults(handler=build.cmd_new_team)
    new.add_argument("name", help="the team's folder name under packages/ (e.g. finance)")
    new.add_argument(
        "--reads",
        action="append",
        default=[],
        metavar="DATASET",
        help="a dataset the team reads, e.g. jaffle_shop.daily_store_revenue (repeat for more)",
    )
    up = sub.add_parser(
        "upgrade", help="move the platform's Prefect (server first), or one team's with --team"
    )
    up.set_defaults(handler=upgrade.cmd_upgrade)
    up.add_argument("package", choices=["prefect"], help="what to upgrade")
    up.add_argument("version", help="the version, e.g. 3.9.1")
    up.add_argument("--team", help="only this team's lock (never newer than the platform's)")
    up.add_argument("--no-tests", action="store_true", help="with --team: skip the team's tests")
    gen = sub.add_parser(
        "generate", help="rewrite the files made from the registry: CODEOWNERS, compose workers, manifests"
    )
    gen.set_defaults(handler=build.cmd_generate)
    gen.add_argument("--check", action="store_true", help="only say which are stale (exit 2 if any)")


def _state_commands(sub: Commands) -> None:
    """What is up, the local API secret, and stopping."""
    simple = (
        ("status", lifecycle.cmd_status, "what is up"),
        ("secret", lifecycle.cmd_secret, "print the local API secret (the UI's login asks for it)"),
        (
            "rotate-secret",
            lifecycle.cmd_rotate_secret,
            "replace the local API secret and restart what is running with it",
        ),
        ("down", lifecycle.cmd_down, "stop what up started; keep data"),
    )
    for name, handler, says in simple:
        sub.add_parser(name, help=says).set_defaults(handler=handler)
    alerts = sub.add_parser("alerts", help="test: send a test alert through an owner's routes; which arrived")
    alerts.set_defaults(handler=alerting.cmd_alerts)
    alerts.add_argument("action", choices=["test"])
    alerts.add_argument("owner", nargs="?", help="a team (default: the platform team)")


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
        return int(args.handler(platform, args))
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
