"""Every name a team has, derived from its folder's name by the rules of the system that uses it.

A team is its folder (`packages/dbt_transform`, `coordinator`): one registry entry in the root
pyproject.toml names it, and nothing else is written by hand. From the folder name `dbt_transform`:

    team, hatch environment, work pool, compose service suffix   dbt-transform
    image                                                         jaffle-dbt-transform
    Kubernetes object names (DNS-1123 labels)                     jaffle-dbt-transform-worker, ...
    distribution (PyPI name)                                      jaffle-dbt-transform
    import package                                                jaffle_dbt_transform
    CODEOWNERS owner                                              @jaffle/dbt-transform
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

PREFIX = "jaffle"
# A folder name: lowercase letters, digits and single underscores, starting with a letter. It becomes a
# Python identifier (the import package) and, with dashes, a DNS-1123 label (Kubernetes, compose, hatch).
FOLDER = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
# Folder names the platform's own things already have, and whose they are.
RESERVED = {
    # the platform's libraries (tests/test_libraries.py holds this list equal to libs/)
    "contract": "jaffle_contract and jaffle-contract are the shared contract library's (libs/)",
    "runtime": "jaffle_runtime and jaffle-runtime are the platform's runtime library's (libs/)",
    "data": "jaffle_data and jaffle-data are the platform's data-plane library's (libs/)",
    "platform": "jaffle-platform* are the platform's base images and @jaffle/platform its team",
}
# The longest Kubernetes name made from a team is `jaffle-<team>-worker` (a DNS-1123 label: 63).
LONGEST_SUFFIX = len(f"{PREFIX}--worker")
DNS_LABEL_MAX = 63


class InvalidTeamName(ValueError):
    """A folder name no team can have; the message says which rule it breaks."""


def problem(folder: str) -> str | None:
    """Why `folder` cannot be a team's folder name, or None when it can."""
    if not FOLDER.fullmatch(folder):
        return (
            f"{folder!r} is not a team folder name: lowercase letters, digits and single underscores, "
            "starting with a letter (e.g. 'finance' or 'dbt_transform')"
        )
    if keyword.iskeyword(folder) or folder in {"test", "tests"}:
        return f"{folder!r} is a Python keyword or a test folder's name, not a package's"
    if folder in RESERVED or folder.startswith("platform_"):
        return f"{folder!r} is taken: {RESERVED.get(folder, RESERVED['platform'])}"
    if len(folder) + LONGEST_SUFFIX > DNS_LABEL_MAX:
        return (
            f"{folder!r} is too long: its Kubernetes names (jaffle-<team>-worker) must fit "
            f"{DNS_LABEL_MAX} characters, so at most {DNS_LABEL_MAX - LONGEST_SUFFIX}"
        )
    return None


def normalise(name: str) -> str:
    """A name as someone may type it (`dbt-transform`, `Finance`) -> its folder name."""
    return name.strip().lower().replace("-", "_")


@dataclass(frozen=True)
class TeamNames:
    """The names of the team whose folder is called `folder`."""

    folder: str

    def __post_init__(self) -> None:
        reason = problem(self.folder)
        if reason:
            raise InvalidTeamName(reason)

    @property
    def team(self) -> str:
        """The team's name: its hatch environment, work pool and `./dev` argument."""
        return self.folder.replace("_", "-")

    @property
    def import_name(self) -> str:
        return f"{PREFIX}_{self.folder}"

    @property
    def distribution(self) -> str:
        return f"{PREFIX}-{self.team}"

    @property
    def image(self) -> str:
        return f"{PREFIX}-{self.team}"

    @property
    def pool(self) -> str:
        return self.team

    @property
    def compose_service(self) -> str:
        return f"worker-{self.team}"

    @property
    def owner(self) -> str:
        """Its CODEOWNERS owner: a GitHub team of the organisation."""
        return f"@{PREFIX}/{self.team}"

    def kubernetes(self, role: str) -> str:
        """A Kubernetes object name for one of the team's things: `worker`, `runs`."""
        return f"{PREFIX}-{self.team}-{role}"


def of(folder: str) -> TeamNames:
    return TeamNames(folder)


def from_import_name(import_name: str) -> TeamNames:
    """The team whose import package is `import_name` (`jaffle_dbt_transform` -> dbt_transform)."""
    head, _, folder = import_name.partition(".")[0].partition("_")
    if head != PREFIX or not folder:
        raise InvalidTeamName(f"{import_name!r} is not a team's import package ({PREFIX}_<folder>)")
    return TeamNames(folder)
