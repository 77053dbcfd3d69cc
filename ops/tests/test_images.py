"""Image references the CLI makes from what a user types (no engine needed)."""

from __future__ import annotations

import re

import pytest
from jaffle_ops.errors import PlatformError
from jaffle_ops.images import CONTENT_TAG, registry_prefix


@pytest.mark.parametrize(
    ("typed", "prefix"),
    [
        ("ghcr.io/acme", "ghcr.io/acme"),
        ("ghcr.io/Acme/", "ghcr.io/acme"),
        ("https://registry.example.com:5000/team/images", "registry.example.com:5000/team/images"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        (" localhost:5000/ ", "localhost:5000"),
    ],
)
def test_a_registry_becomes_a_lowercase_reference_prefix_without_scheme(typed, prefix):
    assert registry_prefix(typed) == prefix


@pytest.mark.parametrize("typed", ["", "/", "ghcr.io/ac me", "ghcr.io:port/x", "ghcr.io//x"])
def test_a_registry_that_cannot_prefix_a_reference_is_refused_by_name(typed):
    with pytest.raises(PlatformError, match="not a registry to push to"):
        registry_prefix(typed)


def test_only_content_tags_are_prunable():
    assert CONTENT_TAG.fullmatch("0123456789ab")
    for other in ("latest", "dev", "v1", "0123456789abc", "0123456789AB"):
        assert not CONTENT_TAG.fullmatch(other), other


def test_a_change_to_a_platform_library_changes_every_team_image_tag(tmp_path):
    from jaffle_ops.images import content_tag

    for name, text in {
        ".dockerignore": ".git\n",
        "docker/no-extra-ca.crt": "",
        "docker/platform.Dockerfile": "FROM base\n",
        "docker/install-lock.sh": "pip install\n",
        "packages/ml_forecast/pyproject.toml": "[project]\n",
        "libs/jaffle_contract/src/jaffle_contract/window.py": "RULE = 1\n",
        "libs/jaffle_runtime/src/jaffle_runtime/launcher.py": "FORK = 1\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    before = content_tag(tmp_path, tmp_path / "packages/ml_forecast", "sha256:base")
    assert content_tag(tmp_path, tmp_path / "packages/ml_forecast", "sha256:base") == before  # stable
    (tmp_path / "libs/jaffle_contract/src/jaffle_contract/window.py").write_text("RULE = 2\n")
    changed = content_tag(tmp_path, tmp_path / "packages/ml_forecast", "sha256:base")
    assert changed != before
    (tmp_path / "libs/jaffle_runtime/src/jaffle_runtime/launcher.py").write_text("FORK = 2\n")
    assert content_tag(tmp_path, tmp_path / "packages/ml_forecast", "sha256:base") not in (before, changed)


def test_every_image_copies_and_imports_every_platform_library():
    """The platform's libraries are the folders under libs/ that hold a project: every team image copies
    them all and puts each one's source on the path the runtime imports from."""
    from jaffle_ops.images import PLATFORM_DOCKERFILE, SHARED_FOLDERS, dockerfile_of
    from jaffle_ops.workspace import packages, repo_root

    root = repo_root()
    libraries = sorted(p.parent.name for p in root.glob("libs/*/pyproject.toml"))
    assert {"jaffle_contract", "jaffle_runtime", "jaffle_data"} <= set(libraries)
    recipe = (root / PLATFORM_DOCKERFILE).read_text()
    path = re.search(r"ONBUILD ENV PYTHONPATH=(\S+)", recipe).group(1).split(":")
    assert sorted(re.findall(r"/opt/jaffle/libs/(\w+)/src", ":".join(path))) == libraries
    for package in packages(root):
        copies = dockerfile_of(root, package.package).read_text()
        for folder in SHARED_FOLDERS:
            assert f"COPY {folder}/ /opt/jaffle/{folder}/" in copies, f"{package.env} does not copy {folder}/"
