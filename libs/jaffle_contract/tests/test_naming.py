"""Every name of a team comes from its folder's name, by each system's rules."""

from __future__ import annotations

import re

import pytest
from jaffle_contract import naming

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def test_a_folder_with_an_underscore_gives_dashes_where_a_system_wants_them():
    names = naming.of("dbt_transform")
    assert names.team == names.pool == "dbt-transform"
    assert names.image == names.distribution == "jaffle-dbt-transform"
    assert names.import_name == "jaffle_dbt_transform" and names.import_name.isidentifier()
    assert names.compose_service == "worker-dbt-transform"
    assert names.owner == "@jaffle/dbt-transform"
    for role in ("worker", "runs"):
        assert DNS_LABEL.fullmatch(names.kubernetes(role))
    assert naming.from_import_name("jaffle_dbt_transform.flows") == names
    assert naming.of(naming.normalise("DBT-Transform")) == names


@pytest.mark.parametrize(
    ("folder", "reason"),
    [
        ("Finance", "lowercase letters"),
        ("2finance", "starting with a letter"),
        ("fin__ance", "single underscores"),
        ("finance_", "single underscores"),
        ("fin-ance", "lowercase letters, digits and single underscores"),
        ("class", "keyword"),
        ("platform", "are the platform's base images and @jaffle/platform its team"),
        ("platform_dependencies", "taken"),
        ("contract", "taken: jaffle_contract and jaffle-contract are the shared contract library's"),
        ("f" * 60, "too long"),
    ],
)
def test_a_name_no_team_can_have_is_refused_with_the_rule_it_breaks(folder, reason):
    assert reason in (naming.problem(folder) or "")
    with pytest.raises(naming.InvalidTeamName, match=reason):
        naming.of(folder)


def test_an_import_name_outside_the_prefix_is_not_a_team():
    with pytest.raises(naming.InvalidTeamName, match="not a team's import package"):
        naming.from_import_name("pandas")
