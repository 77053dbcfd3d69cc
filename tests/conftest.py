"""What the cross-team test tiers share: a real platform started with the CLI in a throwaway home.

Loaded in every environment that runs `tests/` (the contract tests run in each team's), so it uses
the standard library and pytest only.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("JAFFLE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = os.environ.get("JAFFLE_CHROMIUM", "/usr/bin/chromium")
# Debian's Chromium as root, headless, without the background calls this closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jaffle_ops", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _unavailable(message: str) -> None:
    """A tier whose service is missing: skipped on a laptop, a failure under CI (which installs it)."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def run_cli():
    """`run_cli(*args, env=...)` runs the platform CLI from the checkout; `env` adds to os.environ."""
    return _run_cli


@pytest.fixture(scope="session")
def unavailable():
    """`unavailable(message)`: skip, or fail under CI, for a missing Chromium, engine or registry."""
    return _unavailable


@pytest.fixture(scope="session", autouse=True)
def _no_ambient_targets():
    """The tests choose the Prefect API and the image registry themselves: a developer's
    JAFFLE_API_URL or JAFFLE_REGISTRY must not send their deploys and pushes elsewhere."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("JAFFLE_API_URL", "JAFFLE_REGISTRY"):
            patch.delenv(name, raising=False)
        yield


def _platform_client(home: Path, port: int):
    # ops' environment only (the tiers that launch platforms run there)
    from jaffle_ops.secrets import read_auth_string
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(f"http://127.0.0.1:{port}/api", auth_string=read_auth_string(home))


@pytest.fixture(scope="session")
def platform_client():
    """`platform_client(home, port)`: a Prefect client of a launched platform, with its API secret."""
    return _platform_client


def _ui_login(page, ui: str, secret: str) -> None:
    """Log in to the Prefect UI at `ui` as a person does: its login form takes the API's secret."""
    page.goto(f"{ui}/dashboard")
    field = page.get_by_placeholder("admin:pass")
    field.wait_for()
    field.fill(secret)
    page.get_by_role("button", name="Login").click()
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture(scope="session")
def ui_login():
    """`ui_login(page, ui_url, secret)`: the UI's login form, filled in and submitted."""
    return _ui_login


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder for what a person looks at after a run (screenshots, the fault scenarios' numbers):
    test-artifacts/ at the root, or $JAFFLE_TEST_ARTIFACTS."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def free_port():
    """`free_port()` is a loopback port nothing listens on, for a server a test starts."""
    return _free_port


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def _copy_repository(target: Path) -> Path:
    """This repository's files as they are (tracked, or new and not ignored) in `target`, committed in
    a git repository of its own: a checkout a test may change (add a team, edit a Dockerfile)."""
    listed = _git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    for name in listed.split("\0"):
        if name and (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):  # a scratch file gone since it was listed
                shutil.copy2(ROOT / name, target / name)
    _git(target, "init", "-q")
    _git(target, "add", "-A")
    _git(target, "commit", "-qm", "copy")
    return target


@pytest.fixture(scope="session")
def git():
    """`git(repo, *args)`: a git command's output in `repo` (commits by a test identity)."""
    return _git


@pytest.fixture
def repository_copy(tmp_path):
    """A copy of this repository, committed in a repository of its own (for one test)."""
    return _copy_repository(tmp_path / "repository")


@pytest.fixture(scope="module")
def module_repository_copy(tmp_path_factory):
    """A copy of this repository, committed in a repository of its own (for one module's tests)."""
    return _copy_repository(tmp_path_factory.mktemp("repository"))


@contextlib.contextmanager
def _platforms(tmp_path_factory):
    """`launch(*up_args, env=...)` runs `up` in a new home on a free loopback port and returns
    (cli, home, port); every platform launched is brought `down` when the block ends."""
    launched = []

    def launch(*up_args: str, env: dict[str, str] | None = None):
        home, port = tmp_path_factory.mktemp("platform"), _free_port()

        def cli(*args: str) -> subprocess.CompletedProcess:
            return _run_cli("--home", home, "--port", port, *args, env=env)

        launched.append(cli)
        up = cli("up", *up_args)
        assert up.returncode == 0, up.stdout + up.stderr
        return cli, home, port

    try:
        yield launch
    finally:
        for cli in launched:
            cli("down")


@pytest.fixture(scope="module")
def launch_platform(tmp_path_factory):
    """`launch(*up_args, env=...)` runs `up` in a new home on a free loopback port and returns
    (cli, home, port); every platform launched is brought `down` when the module is done."""
    with _platforms(tmp_path_factory) as launch:
        yield launch


@pytest.fixture(scope="session")
def platforms(tmp_path_factory):
    """`with platforms() as launch:` the same launcher for a fixture wider than a module (the faults
    tier shares one platform across its files); what it launched is brought `down` when the block ends."""
    return functools.partial(_platforms, tmp_path_factory)


@pytest.fixture
def chromium_page(request, unavailable):
    """A Playwright page in Debian's Chromium (never `playwright install`). Afterwards its last state
    is saved to test-artifacts/<test>-last.png and the console errors and failed API calls are printed,
    which pytest shows with a failure."""
    if not shutil.which(CHROMIUM):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    trouble: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(90_000)
        page.on(
            "console",
            lambda m: m.type == "error" and trouble.append(f"console: {m.text} ({m.location['url']})"),
        )
        page.on(
            "response",
            lambda r: "/api/" in r.url and r.status >= 400 and trouble.append(f"{r.status} {r.url}"),
        )
        yield page
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
        browser.close()
    print("\n".join(trouble) or "no console errors, no failed API calls")
