"""Flow parameters as the Prefect UI's run form shows them.

A parameter that chooses between a few values is typed with them (`Literal[...]`), so the run form
shows a dropdown; a string that is truly free (a path, an id from the data) says so with `free=True`.
A number is typed with its bounds, `Annotated[int, BOUNDS.field]`: they become the schema's `minimum`
and `maximum`, so the run form and `prefect deployment run` refuse a value out of range before a run
exists, and Prefect checks them again when a run starts. (A pydantic `Field(ge=...)` given as the
default instead would do neither: Prefect keeps only its default, description and extra keys.) The
same bounds go to `parameter(..., bounds=BOUNDS)`, which says them in the description.
tests/contract holds every team to it: a free string not marked free, or a number without both bounds
in its schema and its description, fails.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import Field

# The schema key that marks a string parameter as free text (the UI ignores keys it does not know).
FREE = "x-free-text"


class Bounds(NamedTuple):
    """A number's least and greatest value, both allowed."""

    ge: float
    le: float

    @property
    def field(self) -> Any:
        """The bounds as a type's constraint: `Annotated[int, BOUNDS.field]`."""
        return Field(ge=self.ge, le=self.le)

    @property
    def text(self) -> str:
        """The bounds, as a description says them."""
        return f"{self.ge} to {self.le}"


def parameter(
    default: Any, title: str, description: str, free: bool = False, *, bounds: Bounds | None = None
) -> Any:
    """A flow parameter with a title, a description and a default (Prefect titles a parameter with its
    name unless the schema says otherwise). Use it as the parameter's default in the flow signature.
    `free`: a string (or list of strings) that takes any value, not one of a fixed set.
    `bounds`: a number's, as its annotation has them; the description says them, from here."""
    extra: dict[str, Any] = {"title": title, **({FREE: True} if free else {})}
    said = f"{description} Range: {bounds.text}." if bounds else description
    return Field(default, description=said, json_schema_extra=extra)
