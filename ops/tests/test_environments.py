"""What the platform's processes take from the caller's shell, and what the tools it runs take."""

from __future__ import annotations

import sys
from pathlib import Path

from jaffle_ops import environments


def test_only_the_allow_list_and_the_platforms_own_non_secret_settings_reach_its_processes(monkeypatch):
    for name, value in {
        "LANG": "C.UTF-8",
        "LC_TIME": "C",
        "HTTPS_PROXY": "http://proxy:3128",
        "JAFFLE_DATA_DIR": "/data",
        "JAFFLE_PG_PASSWORD": "hunter2",
        "JAFFLE_API_TOKEN": "t",
        "AWS_SECRET_ACCESS_KEY": "k",
        "PREFECT_API_KEY": "k",
    }.items():
        monkeypatch.setenv(name, value)
    env = environments.platform_environ()
    assert {"LANG", "LC_TIME", "HTTPS_PROXY", "JAFFLE_DATA_DIR"} <= set(env)
    secret = {"JAFFLE_PG_PASSWORD", "JAFFLE_API_TOKEN", "AWS_SECRET_ACCESS_KEY", "PREFECT_API_KEY"}
    assert not secret & set(env)


def test_neither_the_platforms_interpreter_nor_hatch_or_prefect_settings_reach_the_tools(monkeypatch):
    own = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", f"{own}:/usr/bin")
    monkeypatch.setenv("PREFECT_API_URL", "http://x/api")
    monkeypatch.setenv("HATCH_ENV_ACTIVE", "ops")
    monkeypatch.setenv("VIRTUAL_ENV", "/venv")
    monkeypatch.setenv("UV_CONSTRAINT", "/lock")
    env = environments.tool_environ()
    assert env["PATH"] == "/usr/bin"
    assert not {"PREFECT_API_URL", "HATCH_ENV_ACTIVE", "VIRTUAL_ENV", "UV_CONSTRAINT"} & set(env)
    assert environments.platform_environ()["PATH"] == "/usr/bin"
