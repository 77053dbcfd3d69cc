"""jaffle_ops.local on its own: which API a platform talks to and with what secret, what it says when
that API is not there, its choices kept in its home, and the environment of the processes it starts.
(test_workspace.py covers the settings' precedence and the warm parents' socket paths.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from jaffle_ops import secrets
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import INFRAS, LAUNCHERS, Platform, same_api


@pytest.fixture
def local(tmp_path) -> Platform:
    return Platform(root=tmp_path, home=tmp_path / "home", port=4321)


def remote(tmp_path: Path, url: str, **kwargs) -> Platform:
    return Platform(root=tmp_path, home=tmp_path / "home", port=4321, remote_api_url=url, **kwargs)


def test_same_api_ignores_a_trailing_slash_and_localhost_for_127_0_0_1():
    assert same_api(" http://localhost:4200/api/ ") == same_api("http://127.0.0.1:4200/api")
    assert same_api("http://127.0.0.1:4200/api") != same_api("http://127.0.0.1:4201/api")


def test_the_local_platform_is_on_its_port_and_a_remote_one_at_its_url(local, tmp_path):
    assert (local.api_url, local.ui_url) == ("http://127.0.0.1:4321/api", "http://127.0.0.1:4321")
    assert local.ui_origins == "http://127.0.0.1:4321,http://localhost:4321"
    elsewhere = remote(tmp_path, "https://prefect.example/api/")
    assert (elsewhere.api_url, elsewhere.ui_url) == (
        "https://prefect.example/api/",
        "https://prefect.example",
    )


def test_no_server_names_the_api_and_the_way_out(local, tmp_path):
    assert str(local.no_server()) == "no Prefect server at http://127.0.0.1:4321/api: run ./dev up first"
    # a shell pointed at another API is told how to target it; pointed at this one, it needs no hint
    local.ambient_api_url = "http://prod.example/api"
    assert str(local.no_server()).endswith(
        'or target PREFECT_API_URL (http://prod.example/api) with --api-url "$PREFECT_API_URL" '
        "(or JAFFLE_API_URL)"
    )
    local.ambient_api_url = "http://localhost:4321/api/"
    assert "PREFECT_API_URL" not in str(local.no_server())
    elsewhere = remote(tmp_path, "http://prod.example/api")
    assert str(elsewhere.no_server()) == "no Prefect server at http://prod.example/api: is it up?"


def test_commands_for_the_local_processes_refuse_a_remote_api_naming_the_command(local, tmp_path):
    local.local_only("up")  # the local platform: nothing to refuse
    with pytest.raises(
        PlatformError, match=r"`down` manages the local platform's processes; .*prod\.example"
    ):
        remote(tmp_path, "http://prod.example/api").local_only("down")


def test_the_local_secret_comes_from_the_home_and_a_remote_ones_from_the_settings(local, tmp_path):
    assert local.auth_string is None  # before `up` made one
    made = secrets.ensure_auth_string(local.home)
    assert local.auth_string == made
    elsewhere = remote(tmp_path, "http://prod.example/api", remote_auth_string="ops:remote")
    assert elsewhere.auth_string == "ops:remote"  # never the local home's


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://api.prefect.cloud/api/accounts/a/workspaces/w", True),
        ("https://prefect.cloud/api", True),
        ("https://prefect.example/api", False),
        ("https://notprefect.cloud/api", False),
        ("https://api.prefect.cloud.attacker.example/api", False),
    ],
)
def test_the_cloud_key_goes_to_prefect_cloud_only(tmp_path, url, sent):
    platform = remote(tmp_path, url, cloud_api_key="pnu_key")
    assert platform.api_key == ("pnu_key" if sent else None)


def test_the_local_platform_never_sends_the_cloud_key(local):
    local.cloud_api_key = "pnu_key"
    assert local.api_key is None


def test_infra_and_launcher_default_and_persist_in_the_home(local, tmp_path):
    assert (local.infra, local.launcher, local.warm) == ("process", "warm", True)
    local.launcher = "stock"
    assert not local.warm
    local.infra = "docker"
    again = Platform(root=tmp_path, home=local.home, port=4321)  # a later CLI call reads the home
    assert (again.infra, again.launcher) == ("docker", "stock")
    again.launcher = "warm"
    assert not again.warm  # warm parents serve process pools only


def test_an_unknown_infra_or_launcher_is_refused_naming_the_choices(local):
    with pytest.raises(PlatformError, match=f"the launcher is one of {', '.join(LAUNCHERS)}, not 'hot'"):
        local.launcher = "hot"
    with pytest.raises(PlatformError, match=f"the infrastructure is one of {', '.join(INFRAS)}, not 'vm'"):
        local.infra = "vm"
    assert (local.infra, local.launcher) == ("process", "warm")  # nothing was written
    assert not local.home.exists()


def test_a_started_process_gets_this_platforms_api_data_and_secret_and_no_secret_of_the_shell(
    local, tmp_path, monkeypatch
):
    monkeypatch.setenv("JAFFLE_PG_PASSWORD", "from-the-shell")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-shell")
    monkeypatch.setenv("PREFECT_API_URL", "http://prod.example/api")
    monkeypatch.delenv("JAFFLE_DATA_URL", raising=False)
    made = secrets.ensure_auth_string(local.home)
    env = local.environ(tmp_path / "bin", EXTRA="1")
    assert env["PATH"].split(":")[0] == str(tmp_path / "bin")
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4321/api"  # never the shell's
    assert env["PREFECT_API_AUTH_STRING"] == made
    assert env["PREFECT_HOME"] == str(local.home / "prefect")
    assert env["JAFFLE_DATA_DIR"] == str(local.home / "data")
    assert env["JAFFLE_REPO_ROOT"] == str(tmp_path)
    assert env["EXTRA"] == "1"
    assert "JAFFLE_PG_PASSWORD" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "JAFFLE_WORK_DIR" not in env
    monkeypatch.setenv("JAFFLE_DATA_URL", "s3://lake")  # data on an object store: scratch in the home
    assert local.environ()["JAFFLE_WORK_DIR"] == str(local.home / "work")


def test_a_worker_polls_by_its_pools_kind_and_finds_its_package_and_warm_parent(local, tmp_path):
    from jaffle_runtime.launcher import SOCKET_ENV

    socket = local.warm_socket("ml-forecast")
    env = local.worker_environ(tmp_path / "bin", tmp_path / "pkg", socket)
    assert env["PREFECT_WORKER_QUERY_SECONDS"] == "2"  # process workers are also woken by events
    assert env["JAFFLE_PACKAGE_DIR"] == str(tmp_path / "pkg")
    assert env[SOCKET_ENV] == str(socket)
    assert int(env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]) > 0  # a dead run is marked Crashed
    local.infra = "docker"
    env = local.worker_environ(tmp_path / "bin", tmp_path / "pkg")
    assert env["PREFECT_WORKER_QUERY_SECONDS"] == "1" and SOCKET_ENV not in env
