#!/usr/bin/env bash
# Build the local base image when no registry is reachable (no `docker pull`): a minimal Debian
# bookworm with Python 3.11 and venv, made with debootstrap from the Debian mirror and imported.
#
#   docker/base-image.sh [IMAGE]          default IMAGE: jaffle-base:bookworm
#
# Needs root, debootstrap and a running Docker engine. The host's CA bundle is copied in so that pip
# works behind the same TLS-intercepting proxy the host uses (set JAFFLE_CA_BUNDLE to change it).
# Team images then build with --build-arg BASE_IMAGE=jaffle-base:bookworm.
set -euo pipefail
image=${1:-jaffle-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ca=${JAFFLE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
root=$(mktemp -d /tmp/jaffle-base.XXXXXX)
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates,passwd \
  bookworm "$root" "$mirror"
if [ -s "$ca" ]; then
  cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
fi
# Keep the image small: no apt lists, caches or docs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$image"
docker image inspect --format '{{.Id}} {{.Size}}' "$image"
