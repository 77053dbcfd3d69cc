"""jaffle_dbt_transform.sources on its own: which raw columns dbt reads, the sources file made from them,
and the command that keeps the committed files equal to what it makes. (test_contracts.py holds the
committed files to the installed declarations; these tests use declarations of their own.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from jaffle_contract import contracts
from jaffle_dbt_transform import sources

# A dbt team that reads two raw tables of the shop, one of marketing, and a mart it does not treat as a
# raw source (attribution reads jaffle_shop's published marts).
DECLARED = contracts.parse(
    "dbt-transform",
    """
[[consumes]]
name = "raw.jaffle_shop.orders"
columns = { order_id = "string", ordered_at = "timestamp", order_total = "int64" }

[[consumes]]
name = "raw.jaffle_shop.stores"
columns = { store_id = "string", tax_rate = "float64" }

[[consumes]]
name = "raw.marketing.ad_spend"
columns = { spend_date = "date", spend = "int64", paid = "bool" }

[[consumes]]
name = "jaffle_shop.orders"
columns = { order_id = "string" }
""",
)


def _declaring(toml: str) -> contracts.Declarations:
    return contracts.parse("dbt-transform", toml)


def test_consumed_lists_each_raw_tables_columns_in_declared_order_and_only_raw_ones():
    assert sources.consumed(DECLARED) == {
        "jaffle_shop": {
            "orders": ["order_id", "ordered_at", "order_total"],
            "stores": ["store_id", "tax_rate"],
        },
        "marketing": {"ad_spend": ["spend_date", "spend", "paid"]},
    }


def test_a_raw_dataset_of_a_source_no_project_reads_is_named():
    unread = _declaring('[[consumes]]\nname = "raw.crm.contacts"\ncolumns = { id = "string" }\n')
    with pytest.raises(contracts.ContractError, match=r"dbt consumes raw\.crm\.contacts, of a source no"):
        sources.consumed(unread)


def test_a_raw_dataset_name_without_a_table_is_named():
    tableless = _declaring('[[consumes]]\nname = "raw.jaffle_shop"\ncolumns = { id = "string" }\n')
    with pytest.raises(
        contracts.ContractError, match=r"dbt consumes raw\.jaffle_shop, which is not raw\.<source>\.<table>"
    ):
        sources.consumed(tableless)


def test_each_source_file_lives_in_the_staging_folder_of_the_project_that_reads_it():
    for source, (project, _) in sources.SOURCES.items():
        assert sources.path(source) == (
            sources.PROJECTS_DIR / project / "models" / "staging" / source / f"_{source}__sources.yml"
        )


def test_a_rendered_source_shows_dbt_exactly_the_declared_columns_with_their_sql_types():
    text = sources.render("jaffle_shop", DECLARED)
    assert text.startswith(sources.HEADER)
    [source] = yaml.safe_load(text)["sources"]
    assert source["name"] == "jaffle_shop"
    assert source["description"] == sources.SOURCES["jaffle_shop"][1]
    # DuckDB reads the lake in place; PostgreSQL the copy pg_load makes in raw_<source>
    assert source["schema"] == "{{ 'main' if target.type == 'duckdb' else 'raw_jaffle_shop' }}"
    orders, stores = source["tables"]
    assert orders["name"] == "orders" and stores["name"] == "stores"
    assert orders["columns"] == [
        {"name": "order_id", "data_type": "text"},
        {"name": "ordered_at", "data_type": "timestamp"},
        {"name": "order_total", "data_type": "bigint"},
    ]
    assert stores["meta"]["external_location"] == (
        '(select "store_id", "tax_rate" from read_parquet(\'{{ env_var(\'JAFFLE_LAKE_DIR\') }}'
        "/raw/jaffle_shop/stores/**/*.parquet', hive_partitioning = false))"
    )
    [spend] = yaml.safe_load(sources.render("marketing", DECLARED))["sources"][0]["tables"]
    assert [c["data_type"] for c in spend["columns"]] == ["date", "bigint", "boolean"]


def test_rendering_a_source_dbt_reads_no_table_of_is_named():
    shop_only = _declaring('[[consumes]]\nname = "raw.jaffle_shop.orders"\ncolumns = { id = "string" }\n')
    with pytest.raises(contracts.ContractError, match=r"dbt consumes no raw\.marketing\.<table>"):
        sources.render("marketing", shop_only)


@pytest.fixture
def projects(tmp_path, monkeypatch):
    """A copy of the committed sources files, where `main` reads and writes."""
    copy = tmp_path / "projects"
    for source in sources.SOURCES:
        made = copy / sources.path(source).relative_to(sources.PROJECTS_DIR)
        made.parent.mkdir(parents=True)
        shutil.copyfile(sources.path(source), made)
    monkeypatch.setattr(sources, "PROJECTS_DIR", copy)
    return copy


def test_the_command_names_a_stale_file_writes_it_when_asked_and_then_finds_all_current(projects, capsys):
    stale: Path = sources.path("marketing")
    assert stale.is_relative_to(projects)
    stale.write_text("# an older declaration's file\n")

    assert sources.main([]) == 1
    assert capsys.readouterr().err.strip() == "stale: marketing; run with --write"
    assert stale.read_text() == "# an older declaration's file\n"  # checking changes nothing

    assert sources.main(["--write"]) == 0
    assert capsys.readouterr().out.strip() == "wrote: marketing"
    assert stale.read_text() == sources.render("marketing")

    assert sources.main([]) == 0
    assert capsys.readouterr().out.strip() == f"current: {', '.join(sources.SOURCES)}"
