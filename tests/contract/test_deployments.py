"""Every deployment in a package's prefect.yaml loads, and its parameters validate.

Runs inside each team's own environment (hatch sets PLATFORM_PACKAGE), because only there can the
team's entrypoints import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal  # the test flows' annotations are resolved in this module

import pytest
import yaml
from jaffle_contract.deployments import UNWINDOWED
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / os.environ.get("PLATFORM_PACKAGE", "coordinator")
SPEC = yaml.safe_load((PACKAGE / "prefect.yaml").read_text())
DEPLOYMENTS = SPEC["deployments"]
# Every deployment takes a window of days but the platform's checks.
WINDOWED = [d for d in DEPLOYMENTS if d["name"] not in UNWINDOWED]


def test_package_declares_deployments():
    assert DEPLOYMENTS, f"{PACKAGE / 'prefect.yaml'} declares no deployments"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_entrypoint_loads_and_parameters_validate(deployment):
    flow = load_flow_from_entrypoint(str(PACKAGE / deployment["entrypoint"]))
    # The coordinator calls "<flow>/<deployment>": the two names are the contract.
    assert flow.name == deployment["name"]
    assert flow.description, "the flow's docstring is what the Prefect UI shows"
    assert deployment["description"] and deployment["tags"] and deployment["work_pool"]["name"]
    parameters = dict(deployment.get("parameters") or {})
    schema = parameter_schema(flow).model_dump()
    for name in schema.get("required", []):
        # A required date is the user's to pick in the UI (e.g. a backfill's range); anything else
        # required must come from the deployment.
        if name not in parameters:
            assert schema["properties"][name].get("format") == "date", f"{name} has no value"
            parameters[name] = "2024-03-01"
    validated = flow.validate_parameters(parameters)
    assert set(validated) <= set(flow.parameters.properties)


@pytest.mark.parametrize("deployment", WINDOWED, ids=lambda d: d["name"])
def test_dates_are_typed_for_the_ui(deployment):
    flow = load_flow_from_entrypoint(str(PACKAGE / deployment["entrypoint"]))
    schema = parameter_schema(flow).model_dump()
    for name in ("start_date", "end_date"):
        prop = schema["properties"][name]
        formats = {p.get("format") for p in prop.get("anyOf", [prop])}
        assert "date" in formats, f"{deployment['name']}.{name} is not a date parameter: {prop}"


@pytest.mark.parametrize("deployment", WINDOWED, ids=lambda d: d["name"])
def test_bad_parameters_are_rejected(deployment):
    from prefect.exceptions import ParameterTypeError

    flow = load_flow_from_entrypoint(str(PACKAGE / deployment["entrypoint"]))
    with pytest.raises(ParameterTypeError):
        flow.validate_parameters({"start_date": "not-a-date"})


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_every_parameter_explains_itself_in_the_ui(deployment):
    """The run form shows a parameter's title and description; without them a user sees only
    `start_date`. A default makes a quick run one click; only a backfill's dates may be required."""
    flow = load_flow_from_entrypoint(str(PACKAGE / deployment["entrypoint"]))
    schema = parameter_schema(flow).model_dump()
    assert schema["properties"], f"{deployment['name']} takes no parameters"
    required = set(schema.get("required", []))
    for name, prop in schema["properties"].items():
        where = f"{deployment['name']}.{name}"
        title = prop.get("title") or ""
        assert title and title != name, f"{where} has no title of its own (shown as {title!r})"
        assert prop.get("description"), f"{where} has no description"
        if name in required:
            assert prop.get("format") == "date", f"{where} is required but is not a date to pick"
        else:
            assert "default" in prop, f"{where} has no default"


def _strings_without_choices(prop: dict, defs: dict) -> bool:
    """Whether a parameter's schema takes any string: a string (or strings) with no enum and no format."""
    if "$ref" in prop:
        prop = defs[prop["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in prop:
        return any(_strings_without_choices(p, defs) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return _strings_without_choices(prop.get("items", {}), defs)
    return prop.get("type") == "string" and not {"enum", "const", "format"} & set(prop)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_a_parameter_with_a_fixed_set_of_values_is_a_dropdown(deployment):
    """A string parameter is either typed with its choices (the run form's dropdown) or marked free
    (`parameter(..., free=True)`: a path, an id from the data)."""
    from jaffle_contract.parameters import FREE

    flow = load_flow_from_entrypoint(str(PACKAGE / deployment["entrypoint"]))
    schema = parameter_schema(flow).model_dump()
    defs = schema.get("definitions", {})
    for name, prop in schema["properties"].items():
        if _strings_without_choices(prop, defs):
            assert prop.get(FREE), (
                f"{deployment['name']}.{name} takes any string: type it with its choices "
                "(Literal[...], a dropdown in the run form), or mark it parameter(..., free=True)"
            )


def test_a_free_string_where_a_fixed_set_belongs_fails_the_check():
    """The check above catches a free string, and passes the same parameter typed with its choices."""
    from jaffle_contract.parameters import parameter
    from prefect import flow

    @flow
    def free(source: str | None = parameter(None, "Source", "synthetic or landing")) -> None: ...

    @flow
    def chosen(
        source: Literal["synthetic", "landing"] | None = parameter(None, "Source", "one of two"),
    ) -> None: ...

    defs: dict = {}
    assert _strings_without_choices(parameter_schema(free).model_dump()["properties"]["source"], defs)
    assert not _strings_without_choices(parameter_schema(chosen).model_dump()["properties"]["source"], defs)
    chosen_schema = parameter_schema(chosen).model_dump()["properties"]["source"]
    assert {"synthetic", "landing"} <= {v for p in chosen_schema["anyOf"] for v in p.get("enum", [])}


def test_this_teams_deployments_run_on_its_pool_and_carry_its_tag():
    """A team's pool and tag are named after its folder (`jaffle_contract.naming`): the workers `up`
    starts, the compose services and the Kubernetes workers serve that pool and no other."""
    from jaffle_contract import naming

    names = naming.of(PACKAGE.name)
    for deployment in DEPLOYMENTS:
        assert deployment["work_pool"]["name"] == names.pool, deployment["name"]
        assert f"team:{names.team}" in deployment["tags"], deployment["name"]


def _numbers_without_both_bounds(prop: dict, defs: dict, where: str) -> list[str]:
    """Where a parameter's schema takes a number (itself, an item, a mapping's value) with no minimum or
    no maximum."""
    if "$ref" in prop:
        prop = defs[prop["$ref"].rsplit("/", 1)[1]]
    found = [
        missing
        for key, inner in (("anyOf", None), ("items", "[]"), ("additionalProperties", "{}"))
        for sub in (prop.get(key, []) if key == "anyOf" else [prop.get(key)])
        if isinstance(sub, dict)
        for missing in _numbers_without_both_bounds(sub, defs, where + (inner or ""))
    ]
    if prop.get("type") in ("integer", "number") and not {"minimum", "maximum"} <= set(prop):
        found.append(where)
    return found


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_every_number_says_its_bounds_in_its_schema_and_its_description(deployment):
    """A number out of range is refused by the run form and the server before a run exists only if the
    schema has its bounds: typed `Annotated[int, BOUNDS.field]`, described with `bounds=BOUNDS`."""
    flow = load_flow_from_entrypoint(str(PACKAGE / deployment["entrypoint"]))
    schema = parameter_schema(flow).model_dump()
    defs = schema.get("definitions", {})
    for name, prop in schema["properties"].items():
        where = f"{deployment['name']}.{name}"
        unbounded = _numbers_without_both_bounds(prop, defs, where)
        assert not unbounded, f"{unbounded} take a number without both bounds: Annotated[int, BOUNDS.field]"
        if "minimum" in prop:
            said = f"Range: {prop['minimum']} to {prop['maximum']}."
            assert said in prop["description"], f"{where}'s description does not say {said!r}"


def test_a_number_without_bounds_fails_the_check_and_one_with_them_passes():
    from typing import Annotated

    from jaffle_contract.parameters import Bounds, parameter
    from prefect import flow

    days = Bounds(1, 7)
    no_caps = parameter(None, "C", "c")

    @flow
    def loose(n: int = parameter(1, "N", "n"), caps: dict[str, int] | None = no_caps) -> None: ...

    @flow
    def bounded(
        n: Annotated[int, days.field] = parameter(1, "N", "n", bounds=days),
        caps: dict[str, Annotated[int, days.field]] | None = no_caps,
    ) -> None: ...

    def unbounded(fn) -> list[str]:
        schema = parameter_schema(fn).model_dump()
        return [
            found
            for name, prop in schema["properties"].items()
            for found in _numbers_without_both_bounds(prop, schema.get("definitions", {}), name)
        ]

    assert unbounded(loose) == ["n", "caps{}"]
    assert unbounded(bounded) == []
    assert parameter_schema(bounded).model_dump()["properties"]["n"]["description"] == "n Range: 1 to 7."
