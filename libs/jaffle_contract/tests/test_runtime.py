"""jaffle_contract.runtime."""

from __future__ import annotations

import sys

from jaffle_contract import runtime


def test_the_runtime_record_names_this_interpreter_and_the_versions_asked_for():
    record = runtime.runtime_record(("pydantic",))
    assert record["sys_prefix"] == sys.prefix and record["python"] == sys.version.split()[0]
    assert set(record) == {"sys_prefix", "container_id", "python", "pydantic", "environment"}
    assert record["pydantic"]
    assert "PATH" in record["environment"].split() and "=" not in record["environment"]  # names, no values
    assert runtime.artifact_key("ml") == "runtime-ml"
