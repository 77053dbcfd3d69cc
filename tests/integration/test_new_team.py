"""A new team in one command: `./dev new-team finance --reads jaffle_shop.daily_store_revenue` in a copy
of the repository, and then, with no other edit, everything a team gets: its lock, its tests in its own
environment, `affected`, a pool that `up` serves, a place in the parent's run after the producer of what
it reads, its dataset in the lineage view and a valid Kubernetes manifest."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TEAM, READS, DATASET = "finance", "jaffle_shop.daily_store_revenue", "finance.input_days"
DAY = date(2024, 3, 1)


@pytest.fixture(scope="module")
def repository(module_repository_copy):
    return module_repository_copy


@pytest.fixture(scope="module")
def env(repository):
    return {"JAFFLE_REPO_ROOT": str(repository), "HATCH_DATA_DIR": str(repository / ".tools" / "hatch")}


@pytest.fixture(scope="module")
def scaffolded(repository, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HATCH_ENV_", "PREFECT_"))}
    made = subprocess.run(
        [sys.executable, "-m", "jaffle_ops", "new-team", TEAM, "--reads", READS],
        cwd=repository,
        capture_output=True,
        text=True,
        env={**clean, **env},
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return made.stdout


def test_a_name_that_clashes_or_that_no_system_can_take_is_refused_before_anything_is_written(
    repository, env, git
):
    before = git(repository, "status", "--porcelain")
    for name, reason in (
        ("dashboards", "packages/dashboards exists already"),
        ("dbt-transform", "packages/dbt_transform exists already"),
        ("2fin", "not a team folder name"),
        ("class", "keyword"),
        ("contract", "the shared contract library's"),
        ("lint", "the hatch environment 'lint' exists already"),
        ("f" * 60, "too long"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "jaffle_ops", "new-team", name],
            cwd=repository,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        assert out.returncode == 2 and reason in out.stderr, (name, out.stderr)
    out = subprocess.run(
        [sys.executable, "-m", "jaffle_ops", "new-team", "budget", "--reads", "nobody.makes_this"],
        cwd=repository,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert out.returncode == 2 and "no team produces nobody.makes_this" in out.stderr
    assert git(repository, "status", "--porcelain") == before  # nothing written


def test_the_new_team_is_built_like_the_others_and_its_tests_pass_in_its_own_environment(
    repository, env, scaffolded
):
    folder = repository / "packages" / TEAM
    made = ("pyproject.toml", "README.md", "Dockerfile", "prefect.yaml", "requirements.lock", "runtime.lock")
    for name in made:
        assert (folder / name).is_file(), name
    assert f"/packages/{TEAM}/" in (repository / ".github/CODEOWNERS").read_text()
    assert f"worker-{TEAM}:" in (repository / "docker/compose.yaml").read_text()
    assert "prefect==" in (folder / "runtime.lock").read_text()
    tested = subprocess.run(
        ["hatch", "run", f"{TEAM}:test", "-q", "-p", "no:cacheprovider"],
        cwd=repository,
        capture_output=True,
        text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("HATCH_ENV_")}, **env},
    )
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    assert " passed" in tested.stdout and "failed" not in tested.stdout
    # its own interpreter: the environment holds its lock, not another team's
    found = subprocess.run(
        ["hatch", "env", "find", TEAM],
        cwd=repository,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert str(repository / ".tools" / "hatch") in found.stdout


def test_affected_names_it_for_its_folder_and_for_its_producer(repository, scaffolded, git):
    from jaffle_ops.affected import affected

    git(repository, "add", "-A")
    git(repository, "commit", "-qm", "new team")
    base = git(repository, "rev-parse", "HEAD")
    logic = repository / "packages" / TEAM / "src" / f"jaffle_{TEAM}" / "logic.py"
    logic.write_text(logic.read_text() + "\n# changed\n")
    assert affected(repository, base).teams == [TEAM]
    logic.write_text(logic.read_text().removesuffix("\n# changed\n"))
    producer = repository / "packages/dbt_transform/src/jaffle_dbt_transform/datasets.toml"
    producer.write_text(producer.read_text() + "\n")
    found = affected(repository, base)
    assert TEAM in found.teams and found.reasons[TEAM] == ["downstream of dbt-transform's datasets"]
    producer.write_text(producer.read_text().removesuffix("\n"))


def test_its_kubernetes_manifest_validates(repository, scaffolded, monkeypatch):
    from jaffle_ops import kubernetes

    monkeypatch.setenv("JAFFLE_REPO_ROOT", str(repository))
    manifest = repository / f"deploy/kubernetes/30-worker-{TEAM}.yaml"
    documents = list(yaml.safe_load_all(manifest.read_text()))
    assert {d["kind"] for d in documents} >= {"ServiceAccount", "Deployment"}
    for document in documents:
        kubernetes.validate(document)
    image = {"image": f"r.example/jaffle-{TEAM}:0abc"}
    job = kubernetes.render_job(kubernetes.job_template(TEAM), image, TEAM)
    kubernetes.validate(job)
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == f"jaffle-{TEAM}-runs"


def test_up_serves_its_pool_and_the_parent_runs_it_after_what_it_reads(
    repository, env, scaffolded, launch_platform, platform_client
):
    # Not shared: it runs from the copy of the repository that holds the new team.
    cli, home, port = launch_platform("--paused-schedules", env=env)
    ran = cli("run", "--start", DAY.isoformat(), "--end", DAY.isoformat())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with platform_client(home, port) as client:
        pools = {pool.name for pool in client.read_work_pools()}
        assert TEAM in pools
        runs = {r.name.split(" ")[0]: r for r in client.read_flow_runs() if r.name.endswith(f" {DAY}")}
        ours, producer = runs[TEAM], runs["dbt-jaffle-shop"]
        assert ours.state.is_completed(), ours.state
        assert ours.start_time >= producer.end_time  # after the producer of what it reads
        summaries = [a.data for a in client.read_artifacts() if a.key == "platform-run-summary"]
        summary = next(text for text in summaries if DAY.isoformat() in text)
        assert f"| {TEAM} {DAY} | Completed |" in summary
        # the dashboards flow draws the lineage view from every dataset's last materialization
        deployment = client.read_deployment_by_name("dashboards/dashboards")
        window = {"end_date": DAY.isoformat()}
        drawn = client.create_flow_run_from_deployment(deployment.id, parameters=window)
        deadline = time.monotonic() + 300
        while not (drawn := client.read_flow_run(drawn.id)).state.is_final() and time.monotonic() < deadline:
            time.sleep(1)
        assert drawn.state.is_completed(), drawn.state
    partition = home / "data" / "lake" / TEAM / "input_days" / f"day={DAY}" / "part-0.parquet"
    assert partition.is_file()
    page = (home / "data" / "dashboards" / "lineage.html").read_text()
    assert DATASET in page and READS in page
