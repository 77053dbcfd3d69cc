"""Check rows against their dataset's declared schema; split them into good rows and quarantined rows.

Every check is vectorized over the whole frame. A rejected row keeps its original values (as text,
since a bad value may not fit the declared type) and gets a `_reason` naming every problem found,
e.g. "store_id 'store-999' is not a known store; subtotal -120 is below 0".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from jaffle_ingestion.schemas import Column, Dataset


class WrongColumns(ValueError):
    """A file that does not have the dataset's columns: unreadable as this dataset."""


@dataclass(frozen=True)
class Checked:
    """The outcome of checking one frame: rows to land, rows to quarantine (with `_reason`)."""

    good: pa.Table
    bad: pd.DataFrame

    @property
    def bad_ratio(self) -> float:
        total = self.good.num_rows + len(self.bad)
        return len(self.bad) / total if total else 0.0


def check_columns(frame: pd.DataFrame, dataset: Dataset) -> None:
    """Raise WrongColumns naming what is missing; extra columns are allowed and dropped."""
    missing = [c for c in dataset.column_names if c not in frame.columns]
    if missing:
        raise WrongColumns(
            f"missing column(s) {', '.join(missing)} of {dataset.name}; "
            f"found {', '.join(map(str, frame.columns)) or 'no columns'}"
        )


def _coerce(values: pd.Series, column: Column) -> pd.Series:
    """Convert to the column's type; values that do not convert become missing."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        out = values.astype("string")
        return out.mask(out.str.len() == 0)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if pd.api.types.is_datetime64_any_dtype(values):
            out = values
        else:
            # Times with an offset land as UTC; times without one are taken as they are.
            out = pd.to_datetime(values.astype("string"), errors="coerce", format="ISO8601", utc=True)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_convert("UTC").dt.tz_localize(None)
        out = out.astype("datetime64[us]")
        return out.dt.normalize() if pa.types.is_date(kind) else out
    if pa.types.is_boolean(kind):
        if pd.api.types.is_bool_dtype(values):
            return values.astype("boolean")
        text = values.astype("string").str.strip().str.lower()
        return text.map({"true": True, "false": False, "1": True, "0": False, "t": True, "f": False}).astype(
            "boolean"
        )
    if pa.types.is_integer(kind):
        if pd.api.types.is_integer_dtype(values):
            return values.astype("Int64")
        numbers = pd.to_numeric(values, errors="coerce")
        whole = numbers.where(numbers.isna() | (numbers == np.round(numbers)))
        return whole.astype("Int64")
    if pa.types.is_floating(kind):
        return pd.to_numeric(values, errors="coerce").astype("Float64")
    raise TypeError(f"no coercion for {kind} (column {column.name})")


def _present(raw: pd.Series) -> pd.Series:
    """Whether a value was given at all (an empty text counts as missing)."""
    given = raw.notna()
    if pd.api.types.is_string_dtype(raw) or raw.dtype == object:
        given &= raw.astype("string").str.len() > 0
    return given


def check(
    frame: pd.DataFrame,
    dataset: Dataset,
    known: dict[str, set[str]] | None = None,
    source_file: str | pd.Series | None = None,
    problems: pd.Series | None = None,
) -> Checked:
    """Split `frame` into rows that satisfy `dataset`'s schema and rows quarantined with reasons.

    `known` maps a referenced "<source>.<table>.<column>" to the values that exist (e.g. store ids).
    `source_file` names where the rows came from: one name, or one per row. `problems` are reasons
    found before the check (a derivation that had nothing to derive from), one per row or missing.
    """
    check_columns(frame, dataset)
    frame = frame[dataset.column_names].reset_index(drop=True)
    reasons = pd.Series("", index=frame.index, dtype="string")
    typed: dict[str, pd.Series] = {}

    def flag(mask: pd.Series, message: str, values: pd.Series | None = None, quote: bool = False) -> None:
        # Messages are built only for the flagged rows: most rows of most frames are good.
        nonlocal reasons
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        text: str | pd.Series = message
        if values is not None:
            before, after = message.split("{}")
            shown = values[mask].astype("string").fillna("")
            text = before + ("'" + shown + "'" if quote else shown) + after
        reasons = reasons.copy()
        reasons[mask] = reasons[mask] + text + "; "

    # A derivation's problem comes first, and explains the values it could not derive (no "is missing").
    explained = pd.Series(False, index=frame.index)
    if problems is not None:
        given = problems.reset_index(drop=True).astype("string")
        explained = (given.notna() & (given.str.len() > 0)).fillna(False).astype(bool)
        flag(explained, "{}", given)

    for column in dataset.columns:
        raw = frame[column.name]
        value = _coerce(raw, column)
        was_there = _present(raw)
        name = column.name
        flag(was_there & value.isna(), name + " {} is not a valid " + str(column.type), raw, quote=True)
        if not column.nullable:
            flag(~was_there & ~explained, f"{name} is missing")
        if column.min is not None:
            flag(value < column.min, name + " {} is below " + f"{column.min:g}", value)
        if column.references and known is not None and column.references in known:
            allowed = known[column.references]
            what = column.references.split(".")[1].removesuffix("s")
            flag(value.notna() & ~value.isin(allowed), name + " {} is not a known " + what, raw, quote=True)
        typed[column.name] = value

    keys = pd.DataFrame({k: typed[k] for k in dataset.key})
    flag(keys.duplicated(keep="first"), "duplicate " + ", ".join(dataset.key))

    bad_mask = (reasons.str.len() > 0).to_numpy()
    good = pd.DataFrame({name: series[~bad_mask] for name, series in typed.items()})
    table = pa.Table.from_pandas(_for_arrow(good, dataset), schema=dataset.arrow_schema, preserve_index=False)
    bad = frame[bad_mask].astype("string")
    bad["_reason"] = reasons[bad_mask].str.removesuffix("; ")
    if isinstance(source_file, pd.Series):
        bad["_source_file"] = source_file.reset_index(drop=True)[bad_mask].astype("string").to_numpy()
    else:
        bad["_source_file"] = source_file or "synthetic"
    return Checked(good=table, bad=bad.reset_index(drop=True))


def _for_arrow(frame: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    out = frame.copy()
    for column in dataset.columns:
        if pa.types.is_date(column.type):
            out[column.name] = out[column.name].dt.date
    return out


def quarantine_table(bad: pd.DataFrame) -> pa.Table:
    """Rejected rows as text columns plus `_reason` and `_source_file`."""
    return pa.Table.from_pandas(bad.astype("string"), preserve_index=False)
