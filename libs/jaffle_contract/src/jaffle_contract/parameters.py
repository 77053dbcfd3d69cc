"""Flow parameters as the Prefect UI's run form shows them.

A parameter that chooses between a few values is typed with them (`Literal[...]`), so the run form
shows a dropdown; a string that is truly free (a path, an id from the data) says so with `free=True`.
tests/contract holds every team to it: a free string not marked free fails.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

# The schema key that marks a string parameter as free text (the UI ignores keys it does not know).
FREE = "x-free-text"


def parameter(default: Any, title: str, description: str, free: bool = False) -> Any:
    """A flow parameter with a title, a description and a default (Prefect titles a parameter with its
    name unless the schema says otherwise). Use it as the parameter's default in the flow signature.
    `free`: a string (or list of strings) that takes any value, not one of a fixed set."""
    extra: dict[str, Any] = {"title": title, **({FREE: True} if free else {})}
    return Field(default, description=description, json_schema_extra=extra)
