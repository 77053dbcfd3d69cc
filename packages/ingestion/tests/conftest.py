from __future__ import annotations

import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect API for the suite (a server starts in about 20 s; each test reads back what its
    own runs wrote)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield
