"""Land a source in the lake: from the synthetic shop, or from files dropped in a landing folder.

Both paths end the same way: rows are checked against the dataset's declared schema, good rows
replace the day's partition, rejected rows go to the quarantine zone with their reasons, and a
partition whose share of rejected rows is over the limit is not replaced at all (the previous
version stays), so bad input never costs data that was already landed.

Landing folder layout (CSV or Parquet exports in the raw schema; any file name):
    <landing>/<source>/<table>/*.csv | *.parquet
Files stay where they are after a run: the folder is a source, and re-running a range rebuilds the
same partitions from it. Only the days the files have rows for are replaced: a file covering part of
the window leaves the other days' partitions as they were. A file whose content cannot be read as its
dataset (parse, encoding, columns) is moved to `<landing>/_rejected/<source>/<table>/` with a
`.reason.txt` beside it, and the run fails naming it. A file the run cannot fetch (permissions, a
vanished disk, a network filesystem timing out) is left where it is and the run fails: the next run
reads it again.
"""

from __future__ import annotations

import io
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from jaffle_contract import datasets

from jaffle_ingestion import formats, synthetic
from jaffle_ingestion.lake import Lake
from jaffle_ingestion.quality import Checked, _coerce, check, quarantine_table
from jaffle_ingestion.schemas import DATASETS, Dataset, datasets_of

UNDATED = "undated"


class UnreadableFiles(RuntimeError):
    """One or more landing files could not be read as their dataset; they were moved aside."""


class TooManyBadRows(RuntimeError):
    """Some partitions had more rejected rows than allowed; they were left as they were."""


class LandingUnavailable(RuntimeError):
    """Landing files could not be fetched (an I/O error, not their content); they were left in place."""


@dataclass
class TableReport:
    """What landing one dataset did over a run."""

    dataset: str
    landed: int = 0
    quarantined: int = 0
    partitions: int = 0
    refused: list[str] = field(default_factory=list)  # partitions kept as they were: too many bad rows
    held_back: int = 0  # good rows of refused partitions, not landed
    outside_window: int = 0
    untouched: list[str] = field(default_factory=list)  # days of the window without input rows: kept
    files: int = 0
    reasons: Counter = field(default_factory=Counter)
    kept: int = 0  # a reference table's rows of entities the input does not name, landed before: kept

    def add(self, other: TableReport) -> None:
        self.kept += other.kept
        self.landed += other.landed
        self.quarantined += other.quarantined
        self.partitions += other.partitions
        self.refused += other.refused
        self.held_back += other.held_back
        self.outside_window += other.outside_window
        self.untouched += other.untouched
        self.files += other.files
        self.reasons.update(other.reasons)

    @property
    def checked(self) -> int:
        return self.landed + self.held_back + self.quarantined

    @property
    def bad_ratio(self) -> float:
        return self.quarantined / self.checked if self.checked else 0.0

    def row(self) -> dict:
        top = "; ".join(f"{n}x {r}" for r, n in self.reasons.most_common(3))
        return {
            "dataset": self.dataset,
            "rows landed": self.landed,
            "rows quarantined": self.quarantined,
            "bad ratio": round(self.bad_ratio, 4),
            "partitions written": self.partitions,
            "partitions refused": ", ".join(self.refused),
            "days without input (kept)": len(self.untouched),
            "rows kept from earlier landings": self.kept,
            "top reasons": top,
        }


def check_bad_rows(reports: list[TableReport], max_bad_ratio: float, quarantine: str) -> None:
    """The bad-row policy of a run: TooManyBadRows when a partition was refused or a dataset's share of
    rejected rows is over the limit, naming both and where the rejected rows are."""
    refused = [f"{r.dataset} {', '.join(r.refused)}" for r in reports if r.refused]
    over = [r for r in reports if r.bad_ratio > max_bad_ratio]
    if refused or over:
        worst = ", ".join(f"{r.dataset} {r.quarantined} of {r.checked}" for r in over)
        why = "; ".join(
            f"{r.dataset}: " + ", ".join(f"{kind} ({count})" for kind, count in r.reasons.most_common(3))
            for r in reports
            if (r.refused or r in over) and r.reasons
        )
        raise TooManyBadRows(
            f"more than {max_bad_ratio:.2%} of rows were rejected "
            f"({worst or 'in some partitions'}); "
            f"partitions left as they were: {'; '.join(refused) or 'none'}. "
            f"Most frequent reasons, by column: {why or 'none recorded'}. "
            f"Rejected rows and their reasons are in {quarantine}"
        )


def _reason_kinds(bad: pd.DataFrame) -> Counter:
    # "subtotal -5 is below 0; store_id 'x' is not a known store" -> kinds without the values
    kinds: Counter = Counter()
    for reason, count in bad["_reason"].value_counts().items():
        for part in str(reason).split("; "):
            words = re.sub(r" '[^']*'", " 'v'", part).split(" ")  # a quoted value may hold spaces
            has_value = len(words) > 2 and words[1] != "is" and words[0] != "duplicate"
            kinds[" ".join([words[0], *words[2:]]) if has_value else part] += int(count)
    return kinds


def land_partition(
    lake: Lake,
    dataset: Dataset,
    checked: Checked,
    day: date | None,
    max_bad_ratio: float,
    refuse: bool = False,
) -> TableReport:
    """Quarantine the bad rows and replace the partition with the good ones, unless too many are bad
    (in this partition, or in the whole input when `refuse` says so)."""
    report = TableReport(dataset.name, quarantined=len(checked.bad), reasons=_reason_kinds(checked.bad))
    label = day.isoformat() if day else "all"
    quarantine = lake.partition(dataset, day, zone="quarantine")
    if len(checked.bad):
        lake.write(quarantine_table(checked.bad), quarantine)
    else:
        lake.remove(quarantine)
    if refuse or checked.bad_ratio > max_bad_ratio:
        report.refused.append(label)
        report.held_back = checked.good.num_rows
        return report
    table = checked.good
    if day is None:
        table, report.kept = merged_reference(lake, dataset, table)
    lake.write(table, lake.partition(dataset, day))
    report.landed = checked.good.num_rows
    report.partitions = 1
    return report


def merged_reference(lake: Lake, dataset: Dataset, landed: pa.Table) -> tuple[pa.Table, int]:
    """A reference table (one partition, not by day) merged by its entity, the first column of its key:
    the landed rows replace every row of the entities they name (a product's whole price history), and
    the rows of other entities are kept, with how many. Those were landed before, from another source
    perhaps (the demo's stores, under a user's own export), and the orders landed then still refer to
    them: replacing the table would break every one of those references."""
    target = lake.partition(dataset)
    if not dataset.key or not lake.exists(target):
        return landed, 0
    before = lake.read(target)
    entity = dataset.key[0]
    others = before.filter(pc.invert(pc.is_in(before[entity], value_set=landed[entity])))
    if not others.num_rows:
        return landed, 0
    return pa.concat_tables([landed, others.select(landed.column_names).cast(landed.schema)]), others.num_rows


def write_contracts(lake: Lake, source: str) -> list[str]:
    """Write each dataset's `_schema.json` beside its data."""
    return [
        lake.write_bytes(d.contract_json(), lake.path("raw", d.source, d.table, "_schema.json"))
        for d in datasets_of(source)
    ]


def known_values(lake: Lake) -> dict[str, set[str]]:
    """Values other datasets may reference, read from what the lake holds now."""
    stores = lake.partition(DATASETS["jaffle_shop.stores"])
    if not lake.exists(stores):
        return {}
    return {"jaffle_shop.stores.store_id": set(lake.read(stores).column("store_id").to_pylist())}


# --- synthetic source ---------------------------------------------------------------------------

SYNTHETIC_REFERENCE = {
    "stores": synthetic.stores,
    "products": lambda _config: synthetic.products(),
    "supplies": lambda _config: synthetic.supplies(),
}


def land_synthetic_reference(
    lake: Lake, config: synthetic.ShopConfig, max_bad_ratio: float
) -> list[TableReport]:
    """Write the Jaffle Shop's reference tables; they do not depend on the date range."""
    reports = []
    for dataset in datasets_of("jaffle_shop"):
        if dataset.partition_by is None:
            frame = SYNTHETIC_REFERENCE[dataset.table](config)
            reports.append(land_partition(lake, dataset, check(frame, dataset), None, max_bad_ratio))
    return reports


def land_synthetic_day(
    lake: Lake, config: synthetic.ShopConfig, source: str, day: date, max_bad_ratio: float
) -> list[TableReport]:
    """Generate one day of a source and land each of its daily tables."""
    generated = synthetic.generate_day(config, day)
    known = {"jaffle_shop.stores.store_id": set(synthetic.stores(config)["store_id"])}
    return [
        land_partition(lake, d, check(generated.table(d.table), d, known), day, max_bad_ratio)
        for d in datasets_of(source)
        if d.partition_by is not None
    ]


# --- landing folder source ----------------------------------------------------------------------


def _read_parquet(content: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(content)).to_pandas()


def _read_csv(content: bytes) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(content), dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8"
    )


# A reader per file suffix a landing folder takes (`datasets.LANDABLE`, which `./dev land` copies).
READERS = {".parquet": _read_parquet, ".csv": _read_csv}


def _parse_file(path: str, content: bytes) -> pd.DataFrame:
    """A landing file's rows from its bytes: any error here is in the file itself."""
    reader = READERS.get(posixpath.splitext(path)[1])
    if reader is None:
        raise ValueError(f"not a {' or '.join(datasets.LANDABLE)} file")
    return reader(content)


def _move_aside(landing: Lake, source: str, table: str, path: str, problem: str) -> str:
    folder = landing.path("_rejected", source, *([table] if table else []))
    landing.fs.makedirs(folder, exist_ok=True)
    target = posixpath.join(folder, posixpath.basename(path))
    if landing.fs.exists(target):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = posixpath.join(folder, f"{stamp}-{posixpath.basename(path)}")
    landing.fs.mv(path, target)
    landing.fs.pipe_file(target + ".reason.txt", (problem + "\n").encode())
    return target


def _landing_files(landing: Lake, source: str) -> list[tuple[str, Dataset | None]]:
    """Every landing file of a source, with its table when its folder names one: files in
    `<source>/<table>/`, then files directly in `<source>/` (their table is told from their header)."""
    found: list[tuple[str, Dataset | None]] = []
    for dataset in datasets_of(source):
        folder = landing.path(source, dataset.table)
        if landing.fs.isdir(folder):
            found += [(path, dataset) for path in sorted(landing.fs.find(folder))]
    top = landing.path(source)
    if landing.fs.isdir(top):
        found += [
            (e["name"], None)
            for e in sorted(landing.fs.ls(top, detail=True), key=lambda e: e["name"])
            if e["type"] == "file"
        ]
    return [(path, d) for path, d in found if not posixpath.basename(path).startswith((".", "_"))]


def read_landing(landing: Lake, source: str) -> dict[str, list[tuple[str, pd.DataFrame]]]:
    """Read every landing file of a source, in either format (formats.py), as its raw table.
    Unreadable files are moved aside and the read fails; so does a landing whose exports lack one they
    derive from (nothing is moved then)."""
    natives: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    exports: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    problems, unfetched = [], []
    for path, dataset in _landing_files(landing, source):
        try:  # fetching is I/O: a failure says nothing about the file, which stays for the next run
            content = landing.fs.cat_file(path)
        except OSError as error:
            unfetched.append(f"{path}: {type(error).__name__}: {error}")
            continue
        try:
            frame = _parse_file(path, content)
            header = list(map(str, frame.columns))
            if dataset is None:
                dataset, kind = formats.identify(header, datasets_of(source))
            else:
                kind = formats.format_of(header, dataset)
        except Exception as error:  # any reader error means the file is unusable as this dataset
            problem = f"{type(error).__name__}: {error}".strip()
            moved = _move_aside(landing, source, dataset.table if dataset else "", path, problem)
            problems.append(f"{path}: {problem} (moved to {moved})")
            continue
        into = natives if kind == formats.NATIVE else exports
        into.setdefault(dataset.table, []).append((path, frame))
    if unfetched:
        raise LandingUnavailable(
            f"{len(unfetched)} landing file(s) of {source} could not be fetched; nothing was landed and "
            "every file was left where it is, to be read again by the next run:\n  " + "\n  ".join(unfetched)
        )
    if problems:
        raise UnreadableFiles(
            f"{len(problems)} landing file(s) of {source} could not be read; nothing was landed:\n  "
            + "\n  ".join(problems)
        )
    return formats.to_native(exports, natives, source)


def land_files(
    lake: Lake,
    dataset: Dataset,
    files: list[tuple[str, pd.DataFrame]],
    days: list[date],
    known: dict[str, set[str]],
    max_bad_ratio: float,
) -> TableReport:
    """Land one dataset from its landing files: each day of the window the files have rows for (or the
    whole reference table). Days of the window without input rows keep their partitions."""
    frame = pd.concat([f.assign(_source_file=p) for p, f in files], ignore_index=True)
    report = TableReport(dataset.name, files=len(files))
    if dataset.partition_by is None:
        checked = _check_files(frame, dataset, known)
        report.add(land_partition(lake, dataset, checked, None, max_bad_ratio))
        return report
    day = _coerce(frame[dataset.partition_by], dataset.column(dataset.partition_by)).dt.date
    report.outside_window = int((day.notna() & ~day.isin(set(days))).sum())
    # Check everything first: rows whose timestamp cannot be read belong to no day, and if the input
    # as a whole is over the limit no partition of it is replaced.
    covered = set(day.dropna())
    checked = {when: _check_files(frame[day == when], dataset, known) for when in days if when in covered}
    report.untouched = [when.isoformat() for when in days if when not in covered]
    undated = _check_files(frame[day.isna()], dataset, known)
    bad = len(undated.bad) + sum(len(c.bad) for c in checked.values())
    total = bad + sum(c.good.num_rows for c in checked.values())
    refuse_all = total > 0 and bad / total > max_bad_ratio
    for when, result in checked.items():
        report.add(land_partition(lake, dataset, result, when, max_bad_ratio, refuse=refuse_all))
    if len(undated.bad):
        lake.write(quarantine_table(undated.bad), _undated(lake, dataset))
        report.quarantined += len(undated.bad)
        report.reasons.update(_reason_kinds(undated.bad))
    else:
        lake.remove(_undated(lake, dataset))
    return report


def _undated(lake: Lake, dataset: Dataset) -> str:
    return lake.path("quarantine", dataset.source, dataset.table, f"date={UNDATED}", "part-0.parquet")


def _check_files(frame: pd.DataFrame, dataset: Dataset, known: dict[str, set[str]]) -> Checked:
    problems = frame[formats.PROBLEM] if formats.PROBLEM in frame.columns else None
    return check(frame, dataset, known, source_file=frame["_source_file"], problems=problems)
