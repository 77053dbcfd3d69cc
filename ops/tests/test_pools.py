from __future__ import annotations

from pathlib import Path

from jaffle_ops.pools import HARDENING, TEAM_VARIABLES, docker_template
from prefect.utilities.schema_tools import ValidationError, validate

FORBIDDEN = ("privileged", "volumes", "container_create_kwargs", "network_mode", "networks")


def test_a_team_may_set_only_its_image_environment_and_resources():
    template = docker_template(Path("/srv/data"), user="1000:1000")
    assert set(template["variables"]["properties"]) == set(TEAM_VARIABLES)
    assert not set(FORBIDDEN) & set(template["variables"]["properties"])
    escalations = (
        {"privileged": True},
        {"volumes": ["/:/host"]},
        {"container_create_kwargs": {"privileged": True}},
        {"network_mode": "host"},
    )
    for asked in escalations:
        try:
            validate({"image": "x", **asked}, template["variables"], raise_on_error=True, preprocess=True)
        except ValidationError as error:
            assert "Additional properties are not allowed" in str(error), error
        else:
            raise AssertionError(f"the pool's variables accept {asked}")
    validate({"image": "x", "env": {"A": "1"}, "mem_limit": "2g"}, template["variables"], raise_on_error=True)


def test_what_a_container_may_do_to_its_host_is_fixed_by_the_platform():
    job = docker_template(Path("/srv/data"), user="1000:1000")["job_configuration"]
    assert job["privileged"] is False
    assert job["volumes"] == ["/srv/data:/data"]
    assert job["container_create_kwargs"] == {**HARDENING, "user": "1000:1000"}
    assert job["network_mode"] == "host" and "networks" not in job
    stack = docker_template(Path("/srv/data"), network="jaffle-stack")["job_configuration"]
    assert stack["networks"] == ["jaffle-stack"] and "network_mode" not in stack
    # the team's variables are still templated in
    assert job["image"] == "{{ image }}" and job["env"] == "{{ env }}"


def test_the_data_a_docker_run_gets_names_nothing_of_the_deploying_machine_unless_it_is_a_laptop(tmp_path):
    import os

    import pytest
    from jaffle_ops.pools import data_mount

    home = tmp_path / "home/data"
    assert data_mount("volume:jaffle-data", home, None) == ("jaffle-data", None)
    assert data_mount("/srv/shared/jaffle", home, None) == ("/srv/shared/jaffle", None)
    assert data_mount(None, home, "s3://jaffle/data") == (None, None)
    assert data_mount(None, home, None) == (str(home), f"{os.getuid()}:{os.getgid()}") and home.is_dir()
    for bad in ("jaffle-data", "volume:", "volume:../x", "relative/folder"):
        with pytest.raises(ValueError, match="expected volume:NAME"):
            data_mount(bad, home, None)
    named = docker_template("jaffle-data")["job_configuration"]
    assert named["volumes"] == ["jaffle-data:/data"] and named["container_create_kwargs"] == HARDENING
    assert docker_template(None)["job_configuration"]["volumes"] == []
