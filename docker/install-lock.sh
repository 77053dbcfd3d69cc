#!/bin/sh
# jaffle-install-lock LOCK: install a team's locked requirements into /opt/venv, hashes checked and
# nothing resolved, bytecode compiled at install; through the extra CA bundle the platform image was
# built with, if any. Every team Dockerfile's dependency stage runs it (docker/platform.Dockerfile).
set -eu
[ -d /opt/venv ] || python3 -m venv /opt/venv
if [ -s /opt/jaffle-build/extra-ca.crt ]; then export PIP_CERT=/opt/jaffle-build/extra-ca.crt; fi
/opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps -r "$1"
# Bytecode for every module, as pip's own compile does it: a file a package ships for a newer Python only
# (whenever's _typing_312.py, imported on 3.12+) does not compile here and is left as source, not an error.
/opt/venv/bin/python -c "import compileall; compileall.compile_dir('/opt/venv/lib', quiet=2)"
