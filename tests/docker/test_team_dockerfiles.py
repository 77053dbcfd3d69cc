"""A team's own Dockerfile is the team's: a change to it rebuilds its image only, and affects it only."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from docker.errors import ImageNotFound

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("JAFFLE_BASE_IMAGE", "jaffle-base:bookworm")
# What the ML team adds: OpenMP's runtime, from Debian, as root before its source.
SYSTEM_PACKAGE = "libgomp1"
ADDED = (
    "USER root\n"
    f"RUN apt-get update && apt-get install -y --no-install-recommends {SYSTEM_PACKAGE} "
    "&& rm -rf /var/lib/apt/lists/*\n"
    "USER 10001:10001\n"
)


@pytest.fixture
def repository(repository_copy):
    return repository_copy


@pytest.mark.docker
def test_a_system_package_in_the_ml_dockerfile_changes_only_the_ml_image_which_builds(
    engine, repository, git
):
    from jaffle_ops import images
    from jaffle_ops.affected import affected
    from jaffle_ops.workspace import packages

    base_id = engine.images.get(BASE).id

    def tags() -> dict[str, str]:
        return {p.env: images.content_tag(repository, p.package, base_id) for p in packages(repository)}

    before, base_commit = tags(), git(repository, "rev-parse", "HEAD")
    dockerfile = repository / "packages/ml_forecast/Dockerfile"
    text = dockerfile.read_text()
    anchor = "FROM ${PLATFORM}\n"
    assert text.count(anchor) == 1
    dockerfile.write_text(text.replace(anchor, anchor + ADDED))
    git(repository, "commit", "-qam", "ml: OpenMP")

    after = tags()
    assert {team for team in before if before[team] != after[team]} == {"ml-forecast"}
    assert affected(repository, base_commit).teams == ["ml-forecast"]

    with _latest_kept(engine, images.image_name("ml-forecast")):
        built = images.build(
            repository,
            "ml-forecast",
            repository / "packages/ml_forecast",
            base_image=BASE,
            ca_bundle=images.host_ca_bundle(),
        )
        try:
            assert built.tag.endswith(after["ml-forecast"]) and not built.cached
            out = engine.containers.run(
                built.tag,
                [
                    "sh",
                    "-c",
                    f"dpkg-query -W -f '${{Status}}' {SYSTEM_PACKAGE}; echo; id -u; "
                    "python -c 'import jaffle_ml_forecast.forecast; print(\"imported\")'",
                ],
                remove=True,
                network_mode="none",
            ).decode()
            assert out.split() == ["install", "ok", "installed", "10001", "imported"], out
        finally:
            engine.images.remove(built.tag)


@contextlib.contextmanager
def _latest_kept(engine, name: str):
    """The copy's build tags `<name>:latest`: give it back to the image it named before."""
    try:
        kept = engine.images.get(f"{name}:latest").id
    except ImageNotFound:
        kept = None
    try:
        yield
    finally:
        if kept:
            engine.images.get(kept).tag(name, "latest")
        else:
            with contextlib.suppress(ImageNotFound):
                engine.images.remove(f"{name}:latest")
