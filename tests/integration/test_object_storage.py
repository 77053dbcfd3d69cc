"""The whole platform with its data root on an object store: an S3-compatible server (moto's, on
loopback) holds the lake, the warehouses, the forecasts and the dashboard; nothing lands in the local
data folder, and the credentials reach flow runs through a Prefect Secret block only."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import duckdb
import pytest
from jaffle_data import storage

pytestmark = pytest.mark.integration
START, END = date(2024, 3, 1), date(2024, 3, 7)
CHILDREN = ("raw-data-jaffle-shop", "raw-data-marketing", "dbt-jaffle-shop", "dbt-attribution")
CHILDREN += ("sales-forecast", "dashboards")
KEYS = {"AWS_ACCESS_KEY_ID": "jaffle-test", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret"}


@pytest.fixture(scope="module")
def s3():
    """A bucket on moto's S3 server, and a client of it."""
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    fs = s3fs.S3FileSystem(
        key=KEYS["AWS_ACCESS_KEY_ID"],
        secret=KEYS["AWS_SECRET_ACCESS_KEY"],
        client_kwargs={"endpoint_url": endpoint},
    )
    # moto keeps its buckets per process: a bucket of its own, whatever ran before in this session
    bucket = f"jaffle-{uuid.uuid4().hex[:8]}"
    fs.mkdir(bucket)  # in the server's default region
    yield endpoint, fs, bucket
    server.stop()


@pytest.fixture(scope="module")
def platform(launch_platform, s3):
    # Not shared: its data root is an S3 bucket, every other platform's a local folder.
    endpoint, _, bucket = s3
    env = {
        "JAFFLE_DATA_URL": f"s3://{bucket}/data",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return launch_platform("--paused-schedules", env={**env, **KEYS})


def test_the_parent_run_reads_and_writes_only_the_bucket(platform, s3, platform_client, tmp_path):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterTags

    cli, home, port = platform
    _, fs, bucket = s3
    run = cli("run", "--start", START.isoformat(), "--end", END.isoformat())
    assert run.returncode == 0, run.stdout + run.stderr
    with platform_client(home, port) as client:
        [parent] = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"data-platform {START}..{END}"]))
        )
        kids = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"parent:{parent.id}"]))
        )
        saved = client.read_block_document_by_name(storage.CREDENTIALS_BLOCK, "secret", include_secrets=False)
    assert parent.state.is_completed()
    assert {k.name.split(" ")[0]: k.state.name for k in kids} == dict.fromkeys(CHILDREN, "Completed")
    assert saved is not None  # the credentials' only way to a flow run

    # Nothing in the local data folder; dbt's scratch in the home's work folder.
    local = home / "data"
    assert not local.exists() or not [p for p in local.rglob("*") if p.is_file()]
    assert (home / "work/warehouse/.build/jaffle_shop.duckdb").is_file()

    # Everything the teams hand each other is in the bucket.
    root = f"{bucket}/data"
    days = fs.glob(f"{root}/lake/raw/jaffle_shop/orders/date=*/part-0.parquet")
    assert len(days) == 7
    with duckdb.connect() as con:
        con.register_filesystem(fs)
        lake_orders = con.execute(
            f"select count(*) from read_parquet({[f's3://{d}' for d in days]})"
        ).fetchone()[0]
    warehouse = tmp_path / "jaffle_shop.duckdb"
    fs.get_file(f"{root}/warehouse/jaffle_shop.duckdb", str(warehouse))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        warehouse_orders = con.execute("select count(*) from orders").fetchone()[0]
    assert warehouse_orders == lake_orders > 0
    assert fs.exists(f"{root}/warehouse/attribution.duckdb")
    assert fs.exists(f"{root}/warehouse/jaffle_shop.duckdb.days.json")
    assert fs.exists(f"{root}/lake/ml/revenue_forecast/as_of={END}/part-0.parquet")
    page = fs.cat_file(f"{root}/dashboards/latest.html").decode()
    assert "Jaffle Shop" in page and "no warehouse at" not in page
    assert fs.exists(f"{root}/dashboards/lineage.html")

    # No flow run's environment carried the keys: the workers (and the runs they start) never had them.
    for pid_file in (home / "pids").glob("*.json"):
        import json

        pid = json.loads(pid_file.read_text())["pid"]
        environ = Path(f"/proc/{pid}/environ")
        if environ.exists():
            assert KEYS["AWS_SECRET_ACCESS_KEY"].encode() not in environ.read_bytes(), pid_file.name

    # A backfill's `missing` mode reads the bucket: the range is whole, nothing would run.
    dry = cli(
        "backfill",
        "--start",
        START.isoformat(),
        "--end",
        END.isoformat(),
        "--reprocess",
        "missing",
        "--dry-run",
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would run (0):" in dry.stdout and "would skip (6):" in dry.stdout
