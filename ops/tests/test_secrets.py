"""The API secret: made once, private from the start, refused when others may read it."""

from __future__ import annotations

import os
import stat

import pytest
from jaffle_ops import secrets
from jaffle_ops.errors import PlatformError


def test_a_home_has_no_secret_until_one_is_made_and_then_keeps_it(tmp_path):
    assert secrets.read_auth_string(tmp_path) is None
    made = secrets.ensure_auth_string(tmp_path)
    assert made.startswith("jaffle:") and len(made) > len("jaffle:") + 30
    assert secrets.ensure_auth_string(tmp_path) == made == secrets.read_auth_string(tmp_path)
    path = secrets.auth_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no scratch file left behind


def test_rotating_replaces_the_secret(tmp_path):
    first = secrets.ensure_auth_string(tmp_path)
    second = secrets.rotate(tmp_path)
    assert second != first and secrets.read_auth_string(tmp_path) == second


def test_a_secret_others_may_read_or_one_that_is_not_a_secret_is_refused_naming_the_fix(tmp_path):
    secrets.ensure_auth_string(tmp_path)
    path = secrets.auth_file(tmp_path)
    os.chmod(path, 0o644)
    with pytest.raises(PlatformError, match=r"readable by others \(mode -rw-r--r--\).*rotate-secret"):
        secrets.read_auth_string(tmp_path)
    os.chmod(path, 0o600)
    path.write_text("jaffle:\n")
    with pytest.raises(PlatformError, match=r"holds no API secret"):
        secrets.read_auth_string(tmp_path)
