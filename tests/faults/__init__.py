"""The `faults` tier: real server, real workers, faults injected from outside the team code.

One file per scenario, all on one platform (each repairs what it broke with `up`, as an operator would)
and each on days of its own, so any one runs alone or in any order. Each records the seconds from its
fault to the parent's terminal state and the rows lost or duplicated in `test-artifacts/faults.json`.

This file makes the folder a package, so conftest.py's package-scoped platform lives from the folder's
first scenario to its last, and is down before the tiers collected after it run.
"""
