# Every team's image, one recipe with the team as build arguments. Build from the repository root:
#   docker build -f docker/team.Dockerfile --build-arg FOLDER=packages/ml --build-arg TEAM=ml \
#     --build-arg IMPORT_NAME=jaffle_ml -t jaffle-ml .
# (the platform CLI does this with the Docker SDK and a content-hash tag: `./dev images TEAM`). A team
# that needs more (system packages, another stage) puts a Dockerfile of its own in its folder, and the
# CLI builds that one instead, with the same build arguments.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG FOLDER
# An extra CA bundle for TLS-intercepting proxies: a file in the build context (the CLI stages the
# host's bundle under .build/). Used by pip here only; the final stage gets it only if asked.
ARG CA_BUNDLE=docker/no-extra-ca.crt
ARG KEEP_CA_BUNDLE=false
COPY ${CA_BUNDLE} /tmp/extra-ca.crt
COPY ${FOLDER}/runtime.lock /tmp/requirements.lock
# The team's locked dependencies, hashes checked, in one layer; bytecode compiled at install.
RUN python3 -m venv /opt/venv \
 && if [ -s /tmp/extra-ca.crt ]; then export PIP_CERT=/tmp/extra-ca.crt; fi \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps \
      -r /tmp/requirements.lock \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib \
 && mkdir -p /opt/ca \
 && if [ "$KEEP_CA_BUNDLE" = "true" ] && [ -s /tmp/extra-ca.crt ]; then cp /tmp/extra-ca.crt /opt/ca/extra-ca.crt; fi

FROM ${BASE_IMAGE}
ARG FOLDER
ARG TEAM
ARG IMPORT_NAME
ARG VERSION=0.0.0
ARG GIT_REVISION=unknown
LABEL org.opencontainers.image.title="jaffle-${TEAM}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_REVISION}" \
      org.opencontainers.image.source="jaffle-platform" \
      dev.jaffle.team="${TEAM}"
# /data belongs to the runs' user: a named volume mounted there starts as a copy of it (owner included),
# so Docker runs need no uid of the deploying machine.
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin jaffle \
 && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/ca/ /opt/jaffle-ca/
COPY --chown=root:root libs/jaffle_contract/ /opt/jaffle/libs/jaffle_contract/
COPY --chown=root:root ${FOLDER}/ /opt/jaffle/${FOLDER}/
# The source is read-only to the runtime user; flows write only under JAFFLE_DATA_DIR (a volume).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/jaffle/${FOLDER}/src:/opt/jaffle/libs/jaffle_contract/src \
    PYTHONUNBUFFERED=1 \
    JAFFLE_DATA_DIR=/data \
    JAFFLE_PACKAGE_DIR=/opt/jaffle/${FOLDER} \
    JAFFLE_TEAM=${TEAM} \
    JAFFLE_IMPORT_NAME=${IMPORT_NAME}
WORKDIR /opt/jaffle/${FOLDER}
USER 10001:10001
CMD ["python", "-c", "import importlib, os; name = os.environ['JAFFLE_IMPORT_NAME']; importlib.import_module(name); print(name, 'ready')"]
