"""The parent's plan from the teams' declared datasets: who waits for whom, and what is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jaffle_ops import dataset_graph
from jaffle_ops.errors import PlatformError

ROOT = Path(__file__).resolve().parents[1]
INGESTION = "packages/ingestion/src/jaffle_ingestion/datasets.toml"
ML = "packages/ml_forecast/src/jaffle_ml_forecast/datasets.toml"


@pytest.fixture
def copy(repository_copy):
    return repository_copy


def _append(root: Path, path: str, text: str) -> None:
    (root / path).write_text((root / path).read_text() + text)


def test_the_committed_plan_is_the_one_the_datasets_make():
    dataset_graph.check(ROOT)
    made = json.loads(dataset_graph.render(ROOT))
    by_name = {child["name"]: child for child in made["children"]}
    assert set(by_name["dbt-jaffle-shop"]["needs"]) == {"raw-data-jaffle-shop"}
    assert "raw.jaffle_shop.orders" in by_name["dbt-jaffle-shop"]["needs"]["raw-data-jaffle-shop"]
    assert by_name["dbt-jaffle-shop"]["in_order"] and not by_name["sales-forecast"]["in_order"]
    assert made["caps"]["ingestion"] == 3 and made["caps"]["dashboards"] == 1
    assert made["cells"]["ml-forecast"] == "once" and isinstance(made["cells"]["dbt-transform"], int)
    assert made["not_last"] == {"dbt-transform": {"docs": False}}


def test_a_dataset_nobody_produces_is_refused_naming_the_reader_and_the_dataset(copy):
    _append(copy, ML, '\n[[consumes]]\nname = "finance.budget"\ncolumns = { amount = "float64" }\n')
    refusal = r"sales-forecast \(ml-forecast\) reads finance\.budget, which no team produces"
    with pytest.raises(PlatformError, match=refusal):
        dataset_graph.build(copy)


def test_a_cycle_is_refused_naming_it(copy):
    # the shop landing now reads the forecast, which reads the marts, which read the landing
    text = (copy / INGESTION).read_text()
    marker = 'name = "raw.jaffle_shop.stores"\n'
    (copy / INGESTION).write_text(text.replace(marker, marker + 'upstream = ["ml.revenue_forecast"]\n', 1))
    _append(copy, INGESTION, '\n[[consumes]]\nname = "ml.revenue_forecast"\ncolumns = { as_of = "date" }\n')
    with pytest.raises(PlatformError, match="the datasets' graph has a cycle: ") as refused:
        dataset_graph.build(copy)
    path = str(refused.value).rpartition(": ")[2].split(" -> ")
    assert path[0] == path[-1] and {"raw-data-jaffle-shop", "dbt-jaffle-shop", "sales-forecast"} <= set(path)


def test_a_dataset_of_a_team_of_several_deployments_must_name_its_writer(copy):
    text = (copy / INGESTION).read_text()
    (copy / INGESTION).write_text(text.replace('deployment = "raw-data-marketing"\n', "", 1))
    refusal = r"ingestion declares raw\.marketing\.ad_spend without `deployment`"
    with pytest.raises(PlatformError, match=refusal):
        dataset_graph.build(copy)


def test_deploy_and_up_refuse_a_plan_that_cannot_run_or_that_the_coordinator_would_not_see(
    copy, tmp_path_factory
):
    home = tmp_path_factory.mktemp("home")
    clean = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "JAFFLE_API_URL")}
    env = {**clean, "JAFFLE_REPO_ROOT": str(copy)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "jaffle_ops.cli", "--home", str(home), *args]
        return subprocess.run(command, cwd=copy, capture_output=True, text=True, env=env)

    _append(copy, ML, '\n[[consumes]]\nname = "finance.budget"\ncolumns = { amount = "float64" }\n')
    for command in (("deploy", "ml-forecast"), ("up",)):
        out = cli(*command)
        assert out.returncode == 2, out.stdout + out.stderr
        assert "reads finance.budget, which no team produces" in out.stderr and "Traceback" not in out.stderr
    # a datasets change the committed plan does not have yet: deploy says how to make it
    (copy / ML).write_text((ROOT / ML).read_text())
    _append(copy, ML, '\n[[consumes]]\nname = "raw.marketing.ad_spend"\ncolumns = { spend_date = "date" }\n')
    out = cli("deploy", "ml-forecast")
    assert out.returncode == 2 and f"{dataset_graph.GRAPH} is not what the teams' datasets make" in out.stderr
    assert "run ./dev generate" in out.stderr


def test_a_deployment_two_teams_declare_and_a_cap_below_one_are_refused(copy):
    spec = copy / "packages/dashboards/prefect.yaml"
    spec.write_text(spec.read_text().replace("  - name: dashboards\n", "  - name: sales-forecast\n"))
    with pytest.raises(PlatformError, match="the deployment 'sales-forecast' is both"):
        dataset_graph.build(copy)
    spec.write_text((ROOT / "packages/dashboards/prefect.yaml").read_text())
    project = copy / "packages/dashboards/pyproject.toml"
    project.write_text(project.read_text().replace("backfill-cap = 1", "backfill-cap = 0"))
    with pytest.raises(PlatformError, match="a backfill-cap is a whole number of at least 1"):
        dataset_graph.document(copy)


def test_a_cell_size_that_is_not_one_and_not_last_parameters_that_are_not_a_table_are_refused(copy):
    project = copy / "packages/dashboards/pyproject.toml"
    project.write_text(project.read_text().replace('backfill-cell = "once"', 'backfill-cell = "weekly"'))
    with pytest.raises(
        PlatformError, match=r"dashboards/pyproject.toml: backfill-cell 'weekly' is not a cell size"
    ):
        dataset_graph.document(copy)
    project.write_text(project.read_text().replace('backfill-cell = "weekly"', 'backfill-not-last = "docs"'))
    with pytest.raises(PlatformError, match="backfill-not-last is a table of parameters"):
        dataset_graph.document(copy)


def test_the_scaffolds_files_are_valid_python_within_the_line_length_for_any_name_a_team_may_have():
    """The longest folder name naming allows, and names the flow module itself uses: every file the
    scaffold writes compiles, keeps ruff's 110 columns, and the flow never shadows a module name."""
    import ast

    from jaffle_contract import naming
    from jaffle_ops import scaffold

    longest = "f" * (naming.DNS_LABEL_MAX - naming.LONGEST_SUFFIX)
    for name in (longest, "logic", "date", "read_places", "coverage"):
        made = scaffold.files(ROOT, name, ["jaffle_shop.daily_store_revenue"])
        for path, text in made.items():
            if path.endswith(".py"):
                tree = ast.parse(text, path)
                assert max(len(line) for line in text.splitlines()) <= 110, (name, path)
                if path.endswith("flows.py"):
                    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
                    imported = {a.asname or a.name for n in imports for a in n.names}
                    defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
                    assert not set(defined) & imported and len(defined) == len(set(defined)), (name, defined)
