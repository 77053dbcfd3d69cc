"""jaffle_runtime.forked: a forked run's generators are seeded afresh."""

from __future__ import annotations

import sys

from jaffle_runtime import forked


def test_the_generators_a_run_imported_are_seeded_afresh(monkeypatch):
    import types

    seeded = []
    numpy_random = types.SimpleNamespace(seed=lambda: seeded.append("numpy"))
    faker_generator = types.SimpleNamespace(random=types.SimpleNamespace(seed=lambda: seeded.append("faker")))
    monkeypatch.setitem(sys.modules, "numpy.random", numpy_random)
    monkeypatch.setitem(sys.modules, "faker.generator", faker_generator)
    forked.reseed()
    assert seeded == ["numpy", "faker"]
