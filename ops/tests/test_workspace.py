from __future__ import annotations

from pathlib import Path

import pytest
from jaffle_contract import naming
from jaffle_ops.errors import PlatformError
from jaffle_ops.local import Platform
from jaffle_ops.settings import OpsSettings
from jaffle_ops.workspace import COORDINATOR, OPS, packages, repo_root, teams

ROOT = Path(__file__).resolve().parents[2]


def test_the_registry_is_every_package_environment_teams_first_then_coordinator_then_ops():
    names = [p.name for p in packages(ROOT)]
    assert names[-2:] == [COORDINATOR, OPS]
    assert sorted(names[:-2]) == names[:-2]
    for package in packages(ROOT):
        # one name: the environment's is the folder's, the import package derives from it
        names = naming.of(package.package.name)
        assert package.name == names.team
        assert (package.package / "src" / names.import_name).is_dir()


def test_teams_are_the_packages_that_deploy_and_their_pools_are_named_after_them():
    deploying = teams(ROOT)
    assert OPS not in [t.name for t in deploying]
    for team in deploying:
        assert team.pools == [naming.of(team.package.name).pool]
    names = [d["name"] for team in deploying for d in team.deployments]
    assert len(names) == len(set(names))  # a deployment belongs to one team


def test_outside_the_repository_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("JAFFLE_REPO_ROOT", str(tmp_path))
    with pytest.raises(PlatformError, match="not inside the platform repository"):
        repo_root()


def test_flags_override_settings_which_override_defaults(tmp_path, monkeypatch):
    for name in ("JAFFLE_PLATFORM_HOME", "JAFFLE_PLATFORM_PORT", "JAFFLE_API_URL", "JAFFLE_REGISTRY"):
        monkeypatch.delenv(name, raising=False)
    default = Platform.from_settings(tmp_path, OpsSettings())
    assert (default.home, default.port, default.api_url) == (
        (tmp_path / ".platform").resolve(),
        4200,
        "http://127.0.0.1:4200/api",
    )
    monkeypatch.setenv("JAFFLE_PLATFORM_PORT", "4300")
    monkeypatch.setenv("JAFFLE_REGISTRY", "registry.example:5000")
    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere/api")
    from_env = Platform.from_settings(tmp_path, OpsSettings())
    assert (from_env.port, from_env.registry, from_env.ambient_api_url) == (
        4300,
        "registry.example:5000",
        "http://elsewhere/api",
    )
    assert from_env.remote_api_url is None  # an ambient PREFECT_API_URL is never followed
    flagged = Platform.from_settings(tmp_path, OpsSettings(), port=4400, home=tmp_path / "h")
    assert (flagged.port, flagged.home) == (4400, (tmp_path / "h").resolve())


def test_a_home_too_deep_for_a_unix_socket_gets_its_warm_sockets_in_a_private_folder(tmp_path):
    import socket

    shallow = Platform.from_settings(tmp_path, OpsSettings(), home=tmp_path / "h")
    assert shallow.warm_socket("dbt") == tmp_path / "h" / "run" / "warm-dbt.sock"
    deep = Platform.from_settings(tmp_path, OpsSettings(), home=tmp_path / ("d" * 100))
    path = deep.warm_socket("dbt")
    assert len(str(path).encode()) <= 107 and path.name == "warm-dbt.sock"
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert deep.warm_socket("dbt") == path  # the same home, the same place, every time
    other = Platform.from_settings(tmp_path, OpsSettings(), home=tmp_path / ("e" * 100))
    assert other.warm_socket("dbt") != path
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))  # a real socket fits
    path.unlink()
    path.parent.chmod(0o777)  # a folder others may write to is refused, not used
    try:
        with pytest.raises(PlatformError, match="not a private folder"):
            deep.warm_socket("dbt")
    finally:
        path.parent.rmdir()
