"""jaffle_ops.commands.lifecycle on its own, without a Prefect server: what `up`, `down`, `status`,
`secret` and `rotate-secret` do with a platform home, the processes it tracks (real ones, `sleep`), and
what they refuse. (tests/integration starts a whole platform with them.)"""

from __future__ import annotations

import argparse
import re
import socket
from pathlib import Path

import pytest
from jaffle_ops import secrets
from jaffle_ops.commands import lifecycle
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform
from jaffle_ops.workspace import teams

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def platform(tmp_path, dead_port):
    """A local platform in a throwaway home whose server is not up; stops whatever a test left running."""
    made = Platform(root=ROOT, home=tmp_path / "home", port=dead_port)
    yield made
    for name in made.processes.tracked():
        made.processes.stop(name, grace=5)


def _sleeper(platform: Platform, name: str) -> int:
    return platform.processes.spawn(name, ["sleep", "60"], platform.home, {})


ARGS = argparse.Namespace(infra=None, paused_schedules=False)


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (lifecycle.cmd_up, "up"),
        (lifecycle.cmd_down, "down"),
        (lifecycle.cmd_demo, "demo"),
        (lifecycle.cmd_secret, "secret"),
        (lifecycle.cmd_rotate_secret, "rotate-secret"),
    ],
)
def test_commands_for_the_local_processes_refuse_a_remote_api_before_doing_anything(tmp_path, command, name):
    elsewhere = Platform(root=ROOT, home=tmp_path / "home", port=1, remote_api_url="http://prod.example/api")
    with pytest.raises(PlatformError, match=f"`{name}` manages the local platform's processes"):
        command(elsewhere, ARGS)
    assert not elsewhere.home.exists()


def test_secret_names_the_missing_secret_and_rotate_secret_makes_a_new_one(platform, capsys):
    with pytest.raises(PlatformError, match=r"no API secret yet: \./dev up makes one"):
        lifecycle.cmd_secret(platform, ARGS)
    first = secrets.ensure_auth_string(platform.home)

    assert lifecycle.cmd_rotate_secret(platform, ARGS) == 0  # nothing runs: nothing is restarted
    assert capsys.readouterr().out == (
        f"secret      rotated: {secrets.auth_file(platform.home)} (log in to the UI again)\n"
    )
    assert lifecycle.cmd_secret(platform, ARGS) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == secrets.read_auth_string(platform.home) and printed != first


def test_down_stops_the_workers_then_the_server_and_keeps_the_data(platform, capsys):
    server, worker = _sleeper(platform, "server"), _sleeper(platform, "worker-a-pool")
    (platform.data_dir / "lake").mkdir(parents=True)

    assert lifecycle.cmd_down(platform, ARGS) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"stopped     worker-a-pool (pid {worker})",
        f"stopped     server (pid {server})",
        f"data kept in {platform.data_dir}",
    ]
    assert platform.processes.tracked() == {}
    assert (platform.data_dir / "lake").is_dir()


def test_status_says_the_server_is_down_lists_each_process_and_fails(platform, capsys):
    worker = _sleeper(platform, "worker-a-pool")
    assert lifecycle.cmd_status(platform, ARGS) == 1
    out = capsys.readouterr().out
    assert f"server      down at {platform.ui_url}" in out
    assert "runs        process pools, warm launcher" in out
    assert f"worker-a-pool            running pid {worker}  log: {platform.logs / 'worker-a-pool.log'}" in out


def test_up_refuses_to_switch_infrastructure_under_running_workers(platform):
    pool = teams(ROOT)[0].pools[0]
    _sleeper(platform, f"worker-{pool}")
    with pytest.raises(
        PlatformError,
        match=re.escape("workers are running on process pools; `./dev down` first to switch to docker"),
    ):
        lifecycle.cmd_up(platform, argparse.Namespace(infra="docker", paused_schedules=False))
    assert platform.infra == "process"  # unchanged


def test_a_server_port_another_process_holds_is_named_with_the_way_out(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        platform = Platform(root=ROOT, home=tmp_path / "home", port=port)
        with pytest.raises(
            PlatformError, match=f"port {port} on 127.0.0.1 is taken by a process this platform"
        ):
            lifecycle.start_server(platform)
    assert platform.processes.tracked() == {}


def test_the_engine_proxy_needs_the_engines_local_socket(platform, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    with pytest.raises(
        PlatformError, match=re.escape("needs the engine's local socket; DOCKER_HOST is tcp://10.0.0.5:2376")
    ):
        lifecycle.start_engine_proxy(platform)
    assert platform.processes.tracked() == {}
