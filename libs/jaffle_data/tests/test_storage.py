"""The data root on a local folder and on an S3-compatible server (moto's, on loopback): the same
atomic writes, reads, listings and local copies."""

from __future__ import annotations

import duckdb
import pytest
from jaffle_data import storage
from jaffle_data.storage import DataSettings, Storage


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch) -> Storage:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server,
    }.items():
        monkeypatch.setenv(name, value)
    root = Storage("s3://jaffle/data")
    if not root.fs.exists("jaffle"):
        root.fs.mkdir("jaffle")
    root.fs.invalidate_cache()
    return root


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path) -> Storage:
    return Storage(tmp_path / "data") if request.param == "local" else request.getfixturevalue("s3")


def test_writes_are_whole_and_read_back_and_list(root):
    root.write_bytes(b"one", "lake/raw/x/date=2024-05-01/part-0.parquet")
    root.write_bytes(b"two", "lake/raw/x/date=2024-05-02/part-0.parquet")
    root.write_bytes(b"two!", "lake/raw/x/date=2024-05-02/part-0.parquet")  # replaced whole
    assert root.read_bytes("lake/raw/x/date=2024-05-02/part-0.parquet") == b"two!"
    assert root.glob("lake/raw/x/*/part-0.parquet") == [
        "lake/raw/x/date=2024-05-01/part-0.parquet",
        "lake/raw/x/date=2024-05-02/part-0.parquet",
    ]
    assert root.exists("lake/raw/x/date=2024-05-01/part-0.parquet") and not root.exists("lake/nothing")
    assert root.modified("lake/raw/x/date=2024-05-01/part-0.parquet") is not None
    assert root.modified("lake/nothing") is None
    assert root.remove("lake/raw/x/date=2024-05-01/part-0.parquet") and not root.remove("lake/nothing")
    assert not [p for p in root.glob("lake/raw/x/*/*") if ".tmp" in p]


def test_a_writer_that_fails_midway_leaves_the_file_as_it_was(root):
    # its own folder: the S3 server is shared by the module's tests
    root.write_with(lambda out: out.write(b"whole"), "lake/raw/midway/part-0.parquet")

    def half_then_fail(out):
        out.write(b"half of a new version")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        root.write_with(half_then_fail, "lake/raw/midway/part-0.parquet")
    assert root.read_bytes("lake/raw/midway/part-0.parquet") == b"whole"
    assert root.glob("lake/raw/midway/*") == ["lake/raw/midway/part-0.parquet"]
    assert not [p for p in (root.fs.ls(root.path("lake/raw/midway"))) if ".tmp" in p]  # nothing hidden left


def test_a_published_file_is_fetched_once_and_again_only_when_it_changed(root, tmp_path):
    cache = tmp_path / "cache"
    assert not root.fetch(cache, "warehouse/w.duckdb").exists()  # nothing published
    built = tmp_path / "built.duckdb"
    with duckdb.connect(str(built)) as con:
        con.execute("create table t as select 1 as a")
    root.put(built, "warehouse/w.duckdb")
    first = root.identity("warehouse/w.duckdb")
    copy = root.fetch(cache, "warehouse/w.duckdb")
    with duckdb.connect(str(copy), read_only=True) as con:
        assert con.execute("select a from t").fetchall() == [(1,)]
    assert root.fetch(cache, "warehouse/w.duckdb") == copy and root.identity("warehouse/w.duckdb") == first
    with duckdb.connect(str(built)) as con:
        con.execute("insert into t values (2)")
    root.put(built, "warehouse/w.duckdb", move=True)
    assert not built.exists() and root.identity("warehouse/w.duckdb") != first
    with duckdb.connect(str(root.fetch(cache, "warehouse/w.duckdb")), read_only=True) as con:
        assert con.execute("select count(*) from t").fetchone() == (2,)
    if not root.local:  # each version its own file: the older copy is gone, the current one kept
        assert [p.name for p in copy.parent.iterdir()] == [root.fetch(cache, "warehouse/w.duckdb").name]
    root.remove("warehouse/w.duckdb")
    assert not root.fetch(cache, "warehouse/w.duckdb").exists()  # a stale copy is not read


def test_duckdb_reads_and_writes_the_root_through_fsspec_without_an_extension(root):
    con = duckdb.connect()
    root.register(con)
    root.fs.makedirs(root.path("lake"), exist_ok=True)  # a local COPY makes no folders
    con.execute(f"copy (select 42 as answer) to '{root.uri('lake/answer.parquet')}' (format parquet)")
    assert con.execute(f"select * from read_parquet('{root.uri('lake/*.parquet')}')").fetchall() == [(42,)]
    installed = con.execute("select extension_name from duckdb_extensions() where loaded").fetchall()
    assert ("httpfs",) not in installed


def test_a_remote_root_keeps_scratch_off_the_data_folder_and_credentials_off_the_parameters(
    s3, tmp_path, monkeypatch
):
    monkeypatch.setenv("JAFFLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JAFFLE_DATA_URL", "s3://jaffle/data")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = DataSettings()
    assert not settings.storage.local and settings.storage.uri("lake") == "s3://jaffle/data/lake"
    assert settings.work_dir == tmp_path / "cache" / "jaffle"
    # credentials in the environment: the block is not asked for
    assert storage.credentials() == {}
    local = DataSettings(data_url=None)
    assert local.storage.local and local.work_dir == (tmp_path / "data").resolve()
    elsewhere = DataSettings(data_url=f"file://{tmp_path}/shared")  # a local root given as a URL
    assert elsewhere.work_dir == tmp_path / "shared"
