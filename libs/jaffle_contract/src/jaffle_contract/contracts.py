"""Data contracts: what each team declares it produces and consumes, and the check between them.

Each team declares its datasets in its own package, in `src/<import name>/datasets.toml`:

    [[produces]]                         # a dataset this team writes
    name = "raw.jaffle_shop.orders"      # <zone or project>.<...>.<table>: one name across the platform
    location = "lake/raw/jaffle_shop/orders"   # under the data root
    format = "parquet"                   # parquet | duckdb (a warehouse table) | html
    key = ["order_id"]
    partition_by = "ordered_at"          # the column deciding a row's day, if any: a Parquet dataset's
                                         # partition folders; a warehouse table's days, listed beside
                                         # its published file (coverage.py)
    upstream = ["..."]                   # the datasets it is made from (consumed or produced here)
    freshness_hours = 36                 # older than this since its last materialization: stale
    columns = [{ name = "order_id", type = "string", nullable = false }, ...]

    [[consumes]]                         # a dataset this team reads, and the columns it relies on
    name = "raw.jaffle_shop.orders"
    columns = { order_id = "string", ordered_at = "timestamp" }

The team that owns a file is its package (the workspace's registry), so an owner is never written
twice. `check` compares every consumer with its producer: a consumed column that is gone, or whose
type changed to one the consumer cannot read, is a breaking change naming the consumer; a new column
breaks nobody.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jaffle_contract import naming

FILE = "datasets.toml"
TypeName = Literal["string", "int64", "float64", "bool", "date", "timestamp"]
# A consumer reading a column as the second type can read a producer's first type without loss.
WIDENS: frozenset[tuple[str, str]] = frozenset({("int64", "float64"), ("date", "timestamp")})
# The logical types in SQL, as dbt model contracts and `cast` spell them (DuckDB and PostgreSQL agree).
SQL: dict[str, str] = {
    "string": "text",
    "int64": "bigint",
    "float64": "float8",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    name: str
    type: TypeName
    nullable: bool = True
    min: int | float | None = None  # the smallest allowed value
    references: str | None = None  # "<dataset>.<column>" whose values this column must take
    description: str = ""


class Produced(_Strict):
    name: str
    location: str
    format: Literal["parquet", "duckdb", "html"]
    description: str = ""
    key: tuple[str, ...] = ()
    partition_by: str | None = None
    upstream: tuple[str, ...] = ()
    freshness_hours: float = Field(gt=0)
    columns: tuple[Column, ...] = ()
    # The deployment that writes it, where its team has more than one (the parent's plan needs it).
    deployment: str | None = None

    @model_validator(mode="after")
    def _columns_named_exist(self) -> Produced:
        names = [c.name for c in self.columns]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"{self.name}: column(s) {', '.join(doubled)} declared twice")
        unknown = [k for k in (*self.key, *filter(None, [self.partition_by])) if k not in names]
        if unknown:
            raise ValueError(f"{self.name}: key or partition column(s) {', '.join(unknown)} are not columns")
        return self

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


class Consumed(_Strict):
    name: str
    columns: dict[str, TypeName] = Field(default_factory=dict)


class Declarations(_Strict):
    team: str
    produces: tuple[Produced, ...] = ()
    consumes: tuple[Consumed, ...] = ()

    @model_validator(mode="after")
    def _upstreams_are_read_or_made_here(self) -> Declarations:
        known = {d.name for d in self.produces} | {d.name for d in self.consumes}
        for produced in self.produces:
            missing = [u for u in produced.upstream if u not in known]
            if missing:
                raise ValueError(
                    f"{produced.name}: upstream {', '.join(missing)} is neither consumed nor produced by "
                    f"{self.team}: declare it under [[consumes]]"
                )
        return self

    def produced(self, name: str) -> Produced:
        for dataset in self.produces:
            if dataset.name == name:
                return dataset
        raise KeyError(f"{self.team} declares no produced dataset {name!r}")


class ContractError(ValueError):
    """A declarations file that cannot be read, or data that does not match its declaration."""


def parse(team: str, text: str, where: str = FILE) -> Declarations:
    try:
        return Declarations(team=team, **tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise ContractError(f"{where} (team {team}): {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise ContractError(f"{where} (team {team}): {problems}") from error


def declarations_file(package: Path) -> Path | None:
    """A package folder's declarations, `src/<import name>/datasets.toml`, if it has one."""
    found = sorted(package.glob(f"src/*/{FILE}"))
    return found[0] if found else None


def load(team: str, package: Path) -> Declarations:
    """The declarations of the team whose package folder is `package` (empty if it declares none)."""
    path = declarations_file(package)
    if path is None:
        return Declarations(team=team)
    return parse(team, path.read_text(), str(path))


def workspace(root: Path) -> dict[str, Path]:
    """The workspace's registry of packages: every hatch environment of the root pyproject.toml that
    names a package folder (`PLATFORM_PACKAGE`), team name -> folder. Adding a team is adding one.

    The environment's name is the team's name, derived from its folder's (`naming`); an entry whose
    name is not, or whose folder cannot be a team's, is refused naming both."""
    envs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["hatch"]["envs"]
    found: dict[str, Path] = {}
    for name, env in envs.items():
        folder = env.get("env-vars", {}).get("PLATFORM_PACKAGE")
        if folder is None:
            continue
        try:
            expected = naming.of(Path(folder).name).team
        except naming.InvalidTeamName as error:
            raise ContractError(f"pyproject.toml: environment {name!r}: {error}") from None
        if name != expected:
            raise ContractError(
                f"pyproject.toml: environment {name!r} is for {folder}, so it must be called {expected!r}"
            )
        found[name] = root / folder
    return found


def load_all(root: Path) -> list[Declarations]:
    """Every team's declarations, from the sources of the workspace at `root`."""
    return [load(team, folder) for team, folder in sorted(workspace(root).items())]


def load_installed(import_name: str) -> Declarations:
    """A team's declarations as installed with its package (in its environment or image); the team is
    the one the import package names (`naming.from_import_name`)."""
    team = naming.from_import_name(import_name).team
    text = resources.files(import_name).joinpath(FILE).read_text()
    return parse(team, text, f"{import_name}/{FILE}")


@dataclass(frozen=True)
class Problem:
    """One broken hand-over: `consumer` reads `column` of `dataset`, which `producer` no longer gives."""

    consumer: str
    dataset: str
    column: str | None
    producer: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.dataset}.{self.column}" if self.column else self.dataset
        by = f" (produced by {self.producer})" if self.producer else ""
        return f"{self.consumer} reads {where}{by}: {self.reason}"


def producers(declarations: Iterable[Declarations]) -> dict[str, tuple[str, Produced]]:
    """Dataset name -> (producing team, its declaration); a dataset produced twice is an error."""
    found: dict[str, tuple[str, Produced]] = {}
    for team in declarations:
        for dataset in team.produces:
            if dataset.name in found:
                raise ContractError(
                    f"{dataset.name} is declared by both {found[dataset.name][0]} and {team.team}: "
                    "a dataset has one producer"
                )
            found[dataset.name] = (team.team, dataset)
    return found


def compatible(produced: str, consumed: str) -> bool:
    return produced == consumed or (produced, consumed) in WIDENS


def check(declarations: Iterable[Declarations]) -> list[Problem]:
    """Every consumed column against its producer's declaration: the breaking changes, if any."""
    teams = list(declarations)
    made = producers(teams)
    problems: list[Problem] = []
    for team in teams:
        for consumed in team.consumes:
            if consumed.name not in made:
                problems.append(Problem(team.team, consumed.name, None, None, "no team produces it"))
                continue
            producer, dataset = made[consumed.name]
            for name, wanted in consumed.columns.items():
                column = dataset.column(name)
                if column is None:
                    reason = "the column is not in its producer's declaration"
                elif not compatible(column.type, wanted):
                    reason = f"declared {column.type}, read as {wanted}"
                else:
                    continue
                problems.append(Problem(team.team, consumed.name, name, producer, reason))
    return problems


def consumers_of(declarations: Iterable[Declarations], dataset: str) -> list[str]:
    return sorted({t.team for t in declarations for c in t.consumes if c.name == dataset})


def downstream(declarations: Iterable[Declarations], teams: Iterable[str]) -> set[str]:
    """The teams that read, directly or through others, what `teams` produce."""
    every = list(declarations)
    made_by = {d.name: t.team for t in every for d in t.produces}
    reads = {t.team: {made_by[c.name] for c in t.consumes if c.name in made_by} for t in every}
    found: set[str] = set()
    frontier = set(teams)
    while frontier:
        reached = {team for team, sources in reads.items() if sources & frontier} - found
        found |= reached
        frontier = reached
    return found - set(teams)


def arrow_type(name: str, pa: Any) -> Any:
    """The Arrow type of a logical type (pyarrow passed in: this library does not depend on it)."""
    return {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
    }[name]


def arrow_schema(dataset: Produced, pa: Any) -> Any:
    return pa.schema([pa.field(c.name, arrow_type(c.type, pa), nullable=c.nullable) for c in dataset.columns])


def select_as_declared(dataset: Produced, relation: str, present: Iterable[str]) -> str:
    """SQL selecting from `relation` exactly the declared columns of `dataset`, in order and cast to
    their declared types: how a consumer's test fixture takes its producer's shape. A declared column
    the relation lacks is null if the declaration allows it, else an error naming it."""
    have = set(present)
    lacking = [c.name for c in dataset.columns if c.name not in have and not c.nullable]
    if lacking:
        raise ContractError(f"{relation} lacks {dataset.name}'s not-null column(s) {', '.join(lacking)}")
    picks = [
        f"cast({c.name if c.name in have else 'null'} as {SQL[c.type]}) as {c.name}" for c in dataset.columns
    ]
    return f"select {', '.join(picks)} from {relation} as declared_rows"


def validate_frame(dataset: Produced, frame: Any) -> None:
    """Raise ContractError naming each column of a pandas frame that breaks its declaration: missing,
    unexpected, null where the declaration forbids it, or below its floor. Nothing is written first."""
    problems = []
    present = list(frame.columns)
    for column in dataset.columns:
        if column.name not in present:
            problems.append(f"column {column.name} is missing")
            continue
        values = frame[column.name]
        nulls = int(values.isna().sum())
        if nulls and not column.nullable:
            problems.append(f"column {column.name} has {nulls} null value(s) but is declared not null")
        if column.min is not None and column.type in ("int64", "float64"):
            below = int((values.dropna() < column.min).sum())
            if below:
                problems.append(f"column {column.name} has {below} value(s) below its minimum {column.min:g}")
    extra = [c for c in present if dataset.column(c) is None]
    if extra:
        problems.append(f"column(s) {', '.join(map(str, extra))} are not declared")
    if problems:
        raise ContractError(f"{dataset.name} breaks its declaration: {'; '.join(problems)}")
