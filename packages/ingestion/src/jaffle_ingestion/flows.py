"""Ingestion flows: deployed as `raw-data-jaffle-shop` and `raw-data-marketing`."""

from __future__ import annotations

from datetime import date

from jaffle_contract import runtime
from jaffle_contract.deployments import IngestFrom
from jaffle_contract.parameters import parameter
from jaffle_contract.window import resolve_window
from jaffle_data import lineage
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from jaffle_ingestion import landing, synthetic
from jaffle_ingestion.lake import Lake
from jaffle_ingestion.schemas import DECLARATIONS, ZONE, datasets_of
from jaffle_ingestion.settings import IngestionSettings


def days_to_land(
    start_date: date | None, end_date: date | None, max_days: int, source: IngestFrom
) -> list[date]:
    """The days to land: the platform's window rule, at most `max_days` of them, none before the
    synthetic shop opened."""
    window = resolve_window(start_date, end_date)
    if len(window.days) > max_days:
        raise ValueError(
            f"{window.start.isoformat()}..{window.end.isoformat()} is {len(window.days)} days, more than "
            f"the {max_days} one run may land (JAFFLE_MAX_DAYS); backfill it in chunks"
        )
    if source == "synthetic":
        synthetic.check_day(window.start)
    return window.days


def record_runtime() -> dict[str, str]:
    """Record which interpreter and library versions ran this flow (the isolation evidence)."""
    record = runtime.runtime_record(("prefect", "pandas", "pyarrow"))
    create_table_artifact(
        key=runtime.artifact_key("ingestion"), table=[record], description=runtime.DESCRIPTION
    )
    return record


@task(name="write-schemas", cache_policy=NO_CACHE)
def write_schemas(lake: Lake, source: str) -> list[str]:
    """Write each dataset's declared schema (`_schema.json`) beside its data."""
    return landing.write_contracts(lake, source)


@task(name="land-reference-tables", cache_policy=NO_CACHE)
def land_reference(lake: Lake, config: synthetic.ShopConfig, max_ratio: float) -> list[landing.TableReport]:
    """Generate and land the stores, products and supplies reference tables."""
    return landing.land_synthetic_reference(lake, config, max_ratio)


@task(name="land-day", task_run_name="land-{source}-{day}", cache_policy=NO_CACHE)
def land_day(
    lake: Lake, config: synthetic.ShopConfig, source: str, day: date, max_ratio: float
) -> list[landing.TableReport]:
    """Generate one day of a source and land its partitions atomically."""
    return landing.land_synthetic_day(lake, config, source, day, max_ratio)


@task(name="read-landing-files", task_run_name="read-landing-{source}", cache_policy=NO_CACHE)
def read_landing(landing_folder: Lake, source: str) -> dict:
    """Read every file in the source's landing folder; unreadable files are moved aside and fail the run."""
    return landing.read_landing(landing_folder, source)


@task(name="land-files", task_run_name="land-files-{table}", cache_policy=NO_CACHE)
def land_files(
    lake: Lake, table: str, source: str, files: list, days: list[date], max_ratio: float
) -> landing.TableReport:
    """Land one dataset from its landing files, a partition per day of the window."""
    dataset = next(d for d in datasets_of(source) if d.table == table)
    return landing.land_files(lake, dataset, files, days, landing.known_values(lake), max_ratio)


def _ingest(
    source: str, start_date: date | None, end_date: date | None, ingest_from: IngestFrom | None
) -> dict:
    settings = IngestionSettings()
    ingest_from = ingest_from or settings.source_for(source)
    days = days_to_land(start_date, end_date, settings.max_days, ingest_from)
    lake = Lake(settings.lake, settings.options(settings.lake))
    reports = {d.name: landing.TableReport(d.name) for d in datasets_of(source)}
    folder = Lake(settings.landing, settings.options(settings.landing))
    files = read_landing(folder, source) if ingest_from == "landing" else {}
    # What this run writes: from a landing folder, the tables it holds files for; else every table.
    written = [
        f"{ZONE}.{d.name}" for d in datasets_of(source) if ingest_from != "landing" or d.table in files
    ]
    with lineage.materializing(DECLARATIONS, written, window=f"{days[0]}..{days[-1]}", source=ingest_from):
        return _land(lake, source, days, ingest_from, files, reports, settings)


def _land(
    lake: Lake,
    source: str,
    days: list[date],
    ingest_from: IngestFrom,
    files: dict,
    reports: dict[str, landing.TableReport],
    settings: IngestionSettings,
) -> dict:
    logger = get_run_logger()
    if ingest_from == "landing":
        write_schemas(lake, source)
        for dataset in datasets_of(source):  # reference tables first: orders check their stores
            if dataset.table in files:
                reports[dataset.name].add(
                    land_files(
                        lake, dataset.table, source, files[dataset.table], days, settings.max_bad_row_ratio
                    )
                )
            else:
                logger.info("No landing files for %s; its partitions are left as they are", dataset.name)
    else:
        config = synthetic.ShopConfig(
            seed=settings.seed, orders_per_day=settings.orders_per_day, stores=settings.stores
        )
        write_schemas(lake, source)
        parts = land_reference(lake, config, settings.max_bad_row_ratio) if source == "jaffle_shop" else []
        for day in days:
            parts += land_day(lake, config, source, day, settings.max_bad_row_ratio)
        for part in parts:
            reports[part.dataset].add(part)

    for report in reports.values():
        if report.kept:
            logger.warning(
                "%s: kept %d rows of entities these files do not list: they were landed before (by the "
                "demo, perhaps), and what was landed with them still refers to them. The warehouse now "
                "holds both shops' data; to keep each shop apart, land each in a data folder of its own "
                "(a platform home of its own: ./dev --home DIR up; docs/own-data.md)",
                report.dataset,
                report.kept,
            )
    rows = [r.row() for r in reports.values()]
    create_table_artifact(
        key=f"landed-{source.replace('_', '-')}",
        table=rows,
        description=f"{source} from {ingest_from}, {days[0]} to {days[-1]}: rows landed and quarantined",
    )
    logger.info("Landed %s %s..%s from %s into %s", source, days[0], days[-1], ingest_from, lake.url)
    quarantine = lake.path("quarantine", source)
    landing.check_bad_rows(list(reports.values()), settings.max_bad_row_ratio, quarantine)
    return {
        "source": source,
        "ingest_from": ingest_from,
        "start_date": days[0].isoformat(),
        "end_date": days[-1].isoformat(),
        "rows": {r.dataset.split(".")[1]: r.landed for r in reports.values()},
        "quarantined": {r.dataset.split(".")[1]: r.quarantined for r in reports.values()},
        "runtime": record_runtime(),
    }


# Both sources' flows take the same parameters, shown the same way in the UI's run form.
FIRST_DAY = parameter(None, "First day", "First day to land, inclusive. Empty: the last day, or yesterday.")
LAST_DAY = parameter(None, "Last day", "Last day to land, inclusive. Empty: the first day, or yesterday.")
SOURCE = parameter(
    None,
    "Source",
    "synthetic: generate the shop's days; landing: read the files dropped in the landing folder "
    "(the native raw schema or the canonical Jaffle Shop exports). Empty: JAFFLE_INGEST_FROM "
    "(default synthetic).",
)


@flow(name="raw-data-jaffle-shop")
def raw_data_jaffle_shop(
    start_date: date | None = FIRST_DAY,
    end_date: date | None = LAST_DAY,
    ingest_from: IngestFrom | None = SOURCE,
) -> dict:
    """Land the Jaffle Shop's stores, customers, products, supplies, orders, order items and tweets."""
    return _ingest("jaffle_shop", start_date, end_date, ingest_from)


@flow(name="raw-data-marketing")
def raw_data_marketing(
    start_date: date | None = FIRST_DAY,
    end_date: date | None = LAST_DAY,
    ingest_from: IngestFrom | None = SOURCE,
) -> dict:
    """Land marketing ad spend per channel and campaign, and web sessions, per day."""
    return _ingest("marketing", start_date, end_date, ingest_from)
