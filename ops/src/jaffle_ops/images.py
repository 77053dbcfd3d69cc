"""Team images: a content-hash tag per team, incremental builds with the Docker SDK, push and prune.

What the CLI imports (`./dev images`, and `./dev deploy` where a pool runs images), in three parts:
- image_content: what goes into a team's image, its content tag and its revision label (no engine);
- image_builds: the platform's base images and the team's own, built only when their content changed;
- image_registry: pushing a built image to a registry, pruning the tags of older builds.
"""

from __future__ import annotations

from jaffle_ops.image_builds import DEFAULT_BASE, PLATFORM_STAGES, STAGED_CA, Built, build, host_ca_bundle
from jaffle_ops.image_content import (
    CONTENT_TAG,
    PLATFORM_DOCKERFILE,
    SHARED,
    SHARED_FOLDERS,
    content_tag,
    dockerfile_of,
    image_name,
    import_name,
    package_version,
    source_revision,
)
from jaffle_ops.image_registry import Pruned, prune, push, registry_prefix

__all__ = [
    "CONTENT_TAG",
    "DEFAULT_BASE",
    "PLATFORM_DOCKERFILE",
    "PLATFORM_STAGES",
    "SHARED",
    "SHARED_FOLDERS",
    "STAGED_CA",
    "Built",
    "Pruned",
    "build",
    "content_tag",
    "dockerfile_of",
    "host_ca_bundle",
    "image_name",
    "import_name",
    "package_version",
    "prune",
    "push",
    "registry_prefix",
    "source_revision",
]
