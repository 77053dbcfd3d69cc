#!/bin/sh
# jaffle-install-lock LOCK: install a team's locked requirements into /opt/venv, hashes checked and
# nothing resolved, bytecode compiled at install; through the extra CA bundle the platform image was
# built with, if any. Every team Dockerfile's dependency stage runs it (docker/platform.Dockerfile).
set -eu
[ -d /opt/venv ] || python3 -m venv /opt/venv
if [ -s /opt/jaffle-build/extra-ca.crt ]; then export PIP_CERT=/opt/jaffle-build/extra-ca.crt; fi
/opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps -r "$1"
/opt/venv/bin/python -m compileall -q /opt/venv/lib
