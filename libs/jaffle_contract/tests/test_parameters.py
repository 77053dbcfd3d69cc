"""jaffle_contract.parameters."""

from __future__ import annotations

from jaffle_contract.parameters import parameter
from pydantic import TypeAdapter


def test_a_parameter_carries_its_title_description_and_default_into_the_schema():
    schema = TypeAdapter(int).json_schema()
    field = parameter(7, "Days per chunk", "Each chunk is one run.")
    assert field.default == 7 and field.description == "Each chunk is one run."
    assert field.json_schema_extra == {"title": "Days per chunk"} and schema["type"] == "integer"
