"""The dbt projects against the dbt team's declarations (`datasets.toml`) and its producers'.

- every mart carries an enforced dbt model contract whose columns and types are the declared ones,
  in order, so a build that would change what other teams read fails before it publishes;
- every dbt source is a dataset the team declares it consumes (or produces: attribution reads the
  jaffle_shop project's published marts), and a raw source shows dbt only the columns it declares it
  consumes (the sources are made from the declarations), so the contract check covers every column
  dbt reads.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml
from jaffle_contract import contracts

PROJECTS = Path(__file__).resolve().parents[1] / "src" / "jaffle_dbt_transform" / "projects"
DECLARED = contracts.load_installed("jaffle_dbt_transform")


def _yml(project: str, kind: str) -> list[dict]:
    found = []
    for path in sorted((PROJECTS / project / "models").rglob("_*.yml")):
        found += yaml.safe_load(path.read_text()).get(kind) or []
    return found


def _marts(project: str) -> dict[str, dict]:
    return {m["name"]: m for m in _yml(project, "models") if not m["name"].startswith("stg_")}


@pytest.mark.parametrize("project", ["jaffle_shop", "attribution"])
def test_every_mart_is_declared_and_enforces_its_declared_columns(project):
    marts = _marts(project)
    declared = {d.name.split(".", 1)[1]: d for d in DECLARED.produces if d.name.startswith(f"{project}.")}
    assert sorted(marts) == sorted(declared), "marts and declared datasets differ"
    for name, mart in marts.items():
        enforced = mart.get("config", {}).get("contract", {}).get("enforced")
        assert enforced is True, f"{name}: no enforced contract"
        in_yml = [(c["name"], c.get("data_type")) for c in mart["columns"]]
        in_toml = [(c.name, contracts.SQL[c.type]) for c in declared[name].columns]
        assert in_yml == in_toml, f"{project}.{name}: the model contract differs from datasets.toml"


def test_every_source_is_a_declared_input_and_every_declared_input_a_source():
    consumed = {c.name for c in DECLARED.consumes}
    produced = {d.name for d in DECLARED.produces}
    sources = set()
    for project in ("jaffle_shop", "attribution"):
        for source in _yml(project, "sources"):
            for table in source["tables"]:
                name = f"raw.{source['name']}.{table['name']}"
                if project == "attribution" and source["name"] == "jaffle_shop":
                    name = f"jaffle_shop.{table['name']}"  # the other project's published mart
                assert name in consumed or name in produced, f"{project}: source {name} is not declared"
                sources.add(name)
    assert consumed <= sources, f"declared but read by no source: {sorted(consumed - sources)}"


def test_a_mart_that_breaks_its_contract_fails_the_build_naming_the_column_and_publishes_nothing(
    prefect_api, data_dir, tmp_path, monkeypatch
):
    from jaffle_dbt_transform import flows, runner
    from jaffle_dbt_transform.flows import dbt_jaffle_shop
    from jaffle_dbt_transform.runner import DbtBuildFailed

    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    published = runner.DbtSettings().published("jaffle_shop")
    before = published.stat().st_mtime_ns
    # A change to the stores mart turns its tax rate into text: other teams read a number.
    projects = tmp_path / "projects"
    shutil.copytree(PROJECTS, projects)
    stores = projects / "jaffle_shop" / "models" / "marts" / "stores.sql"
    stores.write_text(stores.read_text().replace("tax_rate,", "cast(tax_rate as varchar) as tax_rate,"))
    assert "as varchar) as tax_rate" in stores.read_text()
    monkeypatch.setattr(runner, "PROJECTS_DIR", projects)
    monkeypatch.setattr(flows, "PROJECTS_DIR", projects)
    with pytest.raises(DbtBuildFailed, match=r"(?s)contract.*tax_rate"):
        dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    assert published.stat().st_mtime_ns == before, "a build that broke its contract was published"


def test_the_raw_sources_are_the_ones_made_from_the_declarations():
    from jaffle_dbt_transform import sources

    for source in sources.SOURCES:
        stale = "stale: hatch run dbt-transform:python -m jaffle_dbt_transform.sources --write"
        assert sources.path(source).read_text() == sources.render(source), f"{source}: {stale}"
    assert sources.consumed()["jaffle_shop"]["orders"] == [
        c for c in next(d for d in DECLARED.consumes if d.name == "raw.jaffle_shop.orders").columns
    ]


def test_a_model_that_reads_an_undeclared_column_fails_the_build_naming_it(
    prefect_api, data_dir, tmp_path, monkeypatch
):
    """The lake's orders still have `subtotal`, but a dbt team that no longer declared reading it would
    not see it: the staging model that reads it fails, named, and nothing is published."""
    from jaffle_dbt_transform import flows, runner, sources
    from jaffle_dbt_transform.flows import dbt_jaffle_shop
    from jaffle_dbt_transform.runner import DbtBuildFailed

    dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)  # reads every declared column
    published = runner.DbtSettings().published("jaffle_shop")
    before = published.stat().st_mtime_ns
    fewer = DECLARED.model_copy(
        update={
            "consumes": tuple(
                c.model_copy(update={"columns": {k: v for k, v in c.columns.items() if k != "subtotal"}})
                if c.name == "raw.jaffle_shop.orders"
                else c
                for c in DECLARED.consumes
            )
        }
    )
    projects = tmp_path / "projects"
    shutil.copytree(PROJECTS, projects)
    made = projects / sources.path("jaffle_shop").relative_to(PROJECTS)
    made.write_text(sources.render("jaffle_shop", fewer))
    assert '"subtotal"' not in made.read_text()
    monkeypatch.setattr(runner, "PROJECTS_DIR", projects)
    monkeypatch.setattr(flows, "PROJECTS_DIR", projects)
    with pytest.raises(DbtBuildFailed, match=r"(?s)stg_jaffle_shop__orders.*subtotal"):
        dbt_jaffle_shop(date(2020, 3, 1), date(2020, 3, 2), docs=False)
    assert published.stat().st_mtime_ns == before, "a build that read an undeclared column was published"
