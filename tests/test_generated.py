"""The files made from the registry are the committed ones, and follow a change to the registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from jaffle_ops import generated

ROOT = Path(__file__).resolve().parents[1]


def test_every_generated_file_is_the_one_the_registry_makes():
    assert generated.stale(ROOT) == [], "generated files are stale: run ./dev generate"


@pytest.fixture
def copy(repository_copy):
    return repository_copy


def test_a_team_added_to_the_registry_gets_its_owner_worker_and_manifest_and_a_removed_one_loses_them(copy):
    shutil.copytree(copy / "packages/dashboards", copy / "packages/finance_reports")
    spec = copy / "packages/finance_reports/prefect.yaml"
    spec.write_text(spec.read_text().replace("name: dashboards\n", "name: finance-reports\n"))
    declared = copy / "packages/finance_reports/src/jaffle_dashboards/datasets.toml"
    declared.write_text(
        '[[produces]]\nname = "finance.report"\nlocation = "finance/report.html"\nformat = "html"\n'
        'upstream = ["jaffle_shop.daily_store_revenue"]\nfreshness_hours = 36\n'
        '[[consumes]]\nname = "jaffle_shop.daily_store_revenue"\ncolumns = { revenue = "float64" }\n'
    )
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + "\n[tool.hatch.envs.finance-reports]\n"
        + 'env-vars = { PLATFORM_PACKAGE = "packages/finance_reports" }\n'
    )
    assert generated.stale(copy) == [
        ".github/CODEOWNERS",
        "coordinator/src/jaffle_coordinator/graph.json",
        "deploy/kubernetes/30-worker-finance-reports.yaml",
        "docker/compose.yaml",
    ]
    generated.write(copy)
    assert generated.stale(copy) == []
    owners = (copy / ".github/CODEOWNERS").read_text()
    assert "/packages/finance_reports/  @jaffle/finance-reports\n" in owners
    services = yaml.safe_load((copy / "docker/compose.yaml").read_text())["services"]
    worker = services["worker-finance-reports"]
    assert worker["command"][worker["command"].index("--pool") + 1] == "finance-reports"
    assert worker["environment"] == services["worker-ingestion"]["environment"]  # the shared template
    worker_file = copy / "deploy/kubernetes/30-worker-finance-reports.yaml"
    manifest = list(yaml.safe_load_all(worker_file.read_text()))
    assert "jaffle-finance-reports-worker" in {d["metadata"]["name"] for d in manifest}

    # and gone again with its entry: its worker, owner line and manifest go with it
    pyproject.write_text(pyproject.read_text().partition("\n[tool.hatch.envs.finance-reports]")[0])
    generated.write(copy)
    assert "finance" not in (copy / ".github/CODEOWNERS").read_text()
    assert "finance" not in (copy / "docker/compose.yaml").read_text()
    assert not (copy / "deploy/kubernetes/30-worker-finance-reports.yaml").exists()


def test_a_registry_entry_not_named_after_its_folder_is_refused_naming_both(copy):
    pyproject = copy / "pyproject.toml"
    renamed = pyproject.read_text().replace("[tool.hatch.envs.ml-forecast]", "[tool.hatch.envs.ml]")
    pyproject.write_text(renamed)
    from jaffle_contract.contracts import ContractError

    refusal = "environment 'ml' is for packages/ml_forecast, so it must be called 'ml-forecast'"
    with pytest.raises(ContractError, match=refusal):
        generated.stale(copy)


def test_the_compose_file_without_its_markers_is_a_clear_error(copy):
    compose = copy / "docker/compose.yaml"
    compose.write_text(compose.read_text().replace(generated.BEGIN, ""))
    from jaffle_ops.errors import PlatformError

    with pytest.raises(PlatformError, match="must hold one '# BEGIN workers'"):
        generated.stale(copy)
