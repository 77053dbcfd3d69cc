"""Every team's image, built for real: non-root, its locked versions, no stray CA bundle, incremental."""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import pytest
from docker.errors import ImageNotFound

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("JAFFLE_BASE_IMAGE", "jaffle-base:bookworm")
CA = Path(os.environ.get("JAFFLE_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))


def _packages() -> dict[str, tuple[str, str]]:
    """Every package with an image: name -> (folder, import name), from the workspace's registry."""
    from jaffle_contract import naming
    from jaffle_ops.workspace import packages

    return {
        p.env: (p.package.relative_to(ROOT).as_posix(), naming.of(p.package.name).import_name)
        for p in packages(ROOT)
    }


TEAMS = _packages()
# A variable or build argument named like a credential, with a value (`NAME=...`).
SECRET_LOOKING = re.compile(r"(PASSWORD|SECRET|TOKEN|AUTH_STRING|API_KEY|CREDENTIAL)[A-Z_]*=", re.IGNORECASE)
PROBE = """
import importlib, json, os, re, sys
from importlib.metadata import distributions
importlib.import_module(sys.argv[1])
installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in distributions()}
found = [os.path.join(d, f) for d, _, fs in os.walk("/") if not d.startswith(("/proc", "/sys"))
         for f in fs if f in ("extra-ca.crt", "ca-bundle.crt")]
print(json.dumps({"uid": os.getuid(), "versions": installed,
                  "ca_files": found, "ca_dir": os.listdir("/opt/jaffle-ca"),
                  "env_files": [f for f in os.listdir(".") if f.startswith(".env")]}))
"""


def locked(folder: str) -> dict[str, str]:
    """Every pin of the package's runtime.lock (PEP 503 names)."""
    text = (ROOT / folder / "runtime.lock").read_text()
    found = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", text, re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in found}


def build(team: str):
    """The team's image, as the CLI builds it (cached when its files did not change)."""
    from jaffle_ops import images

    return images.build(
        ROOT, team, ROOT / TEAMS[team][0], base_image=BASE, ca_bundle=CA if CA.exists() else None
    )


@pytest.mark.docker
@pytest.mark.parametrize("team", list(TEAMS))
def test_each_team_image_runs_as_non_root_with_its_locked_versions_and_no_ca_bundle(engine, team):
    from jaffle_ops import images

    folder, module = TEAMS[team]
    built, again = build(team), build(team)
    print(
        f"\n{team}: {built.tag} {'cached' if built.cached else 'built'} in {built.seconds:.1f} s, "
        f"{built.size_bytes / 1e6:.0f} MB; "
        f"rebuild {'cached' if again.cached else 'built'} in {again.seconds:.2f} s"
    )
    assert again.cached and again.tag == built.tag  # unchanged files: no rebuild

    image = engine.images.get(built.tag)
    labels = image.labels
    assert labels["dev.jaffle.team"] == team
    assert labels["org.opencontainers.image.version"] == images.package_version(ROOT / folder)
    # The last commit that changed the team's image inputs (unchanged by other teams' commits).
    assert labels["org.opencontainers.image.revision"] == images.source_revision(ROOT, ROOT / folder)
    out = engine.containers.run(built.tag, ["python", "-c", PROBE, module], remove=True, network_mode="none")
    probe = json.loads(out.decode().strip().splitlines()[-1])
    assert probe["uid"] == 10001
    pins = locked(folder)
    assert "prefect" in pins
    assert {name: probe["versions"].get(name) for name in pins} == pins  # every pin, as locked
    assert (
        probe["ca_files"] == [] and probe["ca_dir"] == []
    )  # the build's CA bundle stayed in the build stage
    assert probe["env_files"] == []
    assert not (ROOT / images.STAGED_CA).exists()  # the staged bundle is removed after the build
    # No credential in the image's configuration or in any layer's recorded command.
    config = image.attrs["Config"]
    recorded = [*(config.get("Env") or []), *(step.get("CreatedBy", "") for step in image.history())]
    for line in recorded:
        assert not SECRET_LOOKING.search(line), line


@pytest.mark.docker
def test_images_prune_removes_older_builds_tags_but_not_the_current_one_a_used_one_or_other_names(
    engine, run_cli
):
    """On the test engine this also prunes stale jaffle-ops content tags: what the command is for."""

    current = build("ops")
    # Older builds of the team (distinct images: a commit adds a layer), one left by a push to a
    # registry, one a container still uses; and a tag someone gave by hand.
    made = {
        "old": "jaffle-ops:0000000000a1",
        "pushed": "127.0.0.1:5999/jaffle-ops:0000000000b2",
        "used": "jaffle-ops:0000000000c3",
        "named": "jaffle-ops:prune-test-dev",
    }
    for ref in made.values():
        box = engine.containers.create(current.tag, ["true"], network_mode="none")
        repository, _, tag = ref.rpartition(":")
        box.commit(repository=repository, tag=tag)
        box.remove()
    user = engine.containers.create(made["used"], ["true"], network_mode="none")
    try:
        out = run_cli("images", "ops", "--prune", env={"JAFFLE_BASE_IMAGE": BASE})
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"{current.tag}  cached" in out.stdout
        assert f"removed {made['old']}" in out.stdout and f"removed {made['pushed']}" in out.stdout
        assert f"kept {made['used']}: a container uses it" in out.stdout
        tags = {tag for image in engine.images.list() for tag in image.tags}
        assert {current.tag, "jaffle-ops:latest", made["used"], made["named"]} <= tags
        assert not {made["old"], made["pushed"]} & tags
    finally:
        user.remove(force=True)
        for ref in made.values():
            with contextlib.suppress(ImageNotFound):
                engine.images.remove(ref)


@pytest.mark.docker
def test_images_pushed_to_a_registry_pull_back_as_the_same_image(engine, registry, only_in_registry, run_cli):
    from jaffle_ops import images

    current = build("ops")
    out = run_cli("images", "ops", "--registry", registry.address, env={"JAFFLE_BASE_IMAGE": BASE})
    assert out.returncode == 0, out.stdout + out.stderr
    remote = f"{registry.address}/{current.tag}"
    assert f"pushed {remote}" in out.stdout
    name, _, tag = current.tag.partition(":")
    assert tag in registry.tags(name)

    # What another machine's worker gets: the pushed image, pulled by its content tag.
    with only_in_registry(remote) as image_id:
        pulled = engine.images.pull(f"{registry.address}/{name}", tag=tag)
        assert pulled.id == image_id
        revision = images.source_revision(ROOT, ROOT / "ops")
        assert pulled.labels["org.opencontainers.image.revision"] == revision
    assert engine.images.get(current.tag).id == image_id  # and this engine has it back


@pytest.mark.docker
def test_a_push_to_a_registry_that_is_not_there_fails_by_name_and_leaves_no_tag(engine, free_port, run_cli):
    nowhere = f"127.0.0.1:{free_port()}"
    out = run_cli("images", "ops", "--registry", nowhere, env={"JAFFLE_BASE_IMAGE": BASE})
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"error: pushing {nowhere}/jaffle-ops:" in out.stderr and "Traceback" not in out.stderr
    tags = {tag for image in engine.images.list(name=f"{nowhere}/jaffle-ops") for tag in image.tags}
    assert tags == set()
