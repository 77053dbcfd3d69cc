"""Flow parameters as the Prefect UI's run form shows them."""

from __future__ import annotations

from typing import Any

from pydantic import Field


def parameter(default: Any, title: str, description: str) -> Any:
    """A flow parameter with a title, a description and a default (Prefect titles a parameter with its
    name unless the schema says otherwise). Use it as the parameter's default in the flow signature."""
    return Field(default, description=description, json_schema_extra={"title": title})
