"""jaffle_ops.commands.build on its own: choosing packages by name, and what `deploy`, `affected` and
`kubernetes` refuse or write before any image is built or anything is deployed."""

from __future__ import annotations

import argparse
import http.server
import threading
from pathlib import Path

import pytest
import yaml
from jaffle_contract import naming
from jaffle_ops.commands import build
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform
from jaffle_ops.workspace import OPS, packages, teams

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def platform(tmp_path):
    return Platform(root=ROOT, home=tmp_path / "home", port=1)


def test_select_takes_a_team_by_environment_or_folder_name_and_all_when_none_is_named(platform):
    everyone = teams(ROOT)
    assert build.select(platform, []) == everyone
    team = everyone[0]
    folder = team.package.name  # e.g. dbt_transform for dbt-transform
    assert build.select(platform, [folder]) == build.select(platform, [team.name]) == [team]
    assert naming.normalise(folder) == naming.normalise(team.name)


def test_select_names_unknown_packages_with_the_known_ones(platform):
    with pytest.raises(PlatformError, match=r"unknown package\(s\) \['finance'\]; known: \[") as refused:
        build.select(platform, ["finance", teams(ROOT)[0].name])
    assert OPS not in str(refused.value)  # ops deploys nothing: not a deployable team
    assert build.select(platform, [OPS], deployable=False) == [p for p in packages(ROOT) if p.name == OPS]


@pytest.fixture
def healthy_api():
    """The one call `deploy` makes before its checks: a Prefect API's /health that answers 200."""

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/api"
    server.shutdown()
    server.server_close()


def _deploy_args(**given) -> argparse.Namespace:
    return argparse.Namespace(
        **{
            "teams": [],
            "infra": None,
            "docker_network": "host",
            "registry": None,
            "paused_schedules": False,
            **given,
        }
    )


def test_deploy_refuses_docker_and_image_flags_without_the_infrastructure_they_apply_to(
    tmp_path, healthy_api
):
    platform = Platform(root=ROOT, home=tmp_path / "home", port=1, remote_api_url=healthy_api)
    with pytest.raises(
        PlatformError, match="--docker-network applies to Docker infrastructure: add --infra docker"
    ):
        build.cmd_deploy(platform, _deploy_args(docker_network="jaffle-stack"))
    with pytest.raises(
        PlatformError, match="--registry applies to images: add --infra docker or --infra kubernetes"
    ):
        build.cmd_deploy(platform, _deploy_args(registry="ghcr.io/acme"))
    platform.infra = "kubernetes"  # as `up` chose: no --infra needed
    with pytest.raises(PlatformError, match="--docker-network applies to Docker"):
        build.cmd_deploy(platform, _deploy_args(docker_network="jaffle-stack"))


def test_affected_names_a_git_ref_that_does_not_exist(platform):
    with pytest.raises(PlatformError, match=r"git .*no-such-ref.* failed"):
        build.cmd_affected(platform, argparse.Namespace(since="no-such-ref-xyz", json=False))


def test_kubernetes_writes_each_manifest_as_parseable_yaml_naming_every_team(platform, tmp_path, capsys):
    folder = tmp_path / "manifests"
    assert build.cmd_kubernetes(platform, argparse.Namespace(write=folder)) == 0
    written = sorted(folder.iterdir())
    assert sorted(capsys.readouterr().out.splitlines()) == [f"wrote       {path}" for path in written]
    documents = [d for path in written for d in yaml.safe_load_all(path.read_text()) if d]
    text = "\n".join(path.read_text() for path in written)
    for team in teams(ROOT):
        assert team.name in text, team.name
    assert all("kind" in d for d in documents)
