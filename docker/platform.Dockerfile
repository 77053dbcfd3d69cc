# The platform's part of every team image: two base images that each team's own Dockerfile
# (packages/<team>/Dockerfile, coordinator/Dockerfile, ops/Dockerfile) builds on. `./dev images` builds
# both from the repository root with the Docker SDK and tags them by content:
#
#   --target dependencies  -> jaffle-platform-dependencies:<hash>   where a team installs its lock
#   --target runtime       -> jaffle-platform:<hash>                what a team's image runs on
#
# The runtime's ONBUILD lines give every team image the same labels, environment and folder from the
# build arguments the CLI passes (FOLDER, TEAM, IMPORT_NAME, VERSION, GIT_REVISION).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS dependencies
# An extra CA bundle for TLS-intercepting proxies: a file in the build context (the CLI stages the
# host's bundle under .build/). pip uses it here only; the runtime gets it only if asked.
ARG CA_BUNDLE=docker/no-extra-ca.crt
ARG KEEP_CA_BUNDLE=false
COPY ${CA_BUNDLE} /opt/jaffle-build/extra-ca.crt
COPY docker/install-lock.sh /usr/local/bin/jaffle-install-lock
RUN mkdir -p /opt/ca \
 && if [ "$KEEP_CA_BUNDLE" = "true" ] && [ -s /opt/jaffle-build/extra-ca.crt ]; then \
      cp /opt/jaffle-build/extra-ca.crt /opt/ca/extra-ca.crt; fi

FROM ${BASE_IMAGE} AS runtime
# The runs' user. Its home is ops/src/jaffle_ops/kubernetes_objects.py (IMAGE_UID, the pods' runAsUser);
# a Dockerfile cannot read Python, so this default is a copy, held to that one by a test
# (ops/tests/test_facts.py).
ARG JAFFLE_UID=10001
# /data belongs to the runs' user: a named volume mounted there starts as a copy of it (owner included),
# so Docker runs need no uid of the deploying machine.
RUN useradd --create-home --uid "$JAFFLE_UID" --user-group --shell /usr/sbin/nologin jaffle \
 && mkdir -p /data && chown "$JAFFLE_UID:$JAFFLE_UID" /data
COPY --from=dependencies /opt/ca/ /opt/jaffle-ca/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    JAFFLE_DATA_DIR=/data
ONBUILD ARG FOLDER
ONBUILD ARG TEAM
ONBUILD ARG IMPORT_NAME
ONBUILD ARG VERSION=0.0.0
ONBUILD ARG GIT_REVISION=unknown
ONBUILD LABEL org.opencontainers.image.title="jaffle-${TEAM}" \
              org.opencontainers.image.version="${VERSION}" \
              org.opencontainers.image.revision="${GIT_REVISION}" \
              org.opencontainers.image.source="jaffle-platform" \
              dev.jaffle.team="${TEAM}"
# The source is read-only to the runtime user; flows write only under JAFFLE_DATA_DIR (a volume).
# Every library under libs/ (a Dockerfile cannot glob a path list; ops/tests/test_images.py holds it equal).
ONBUILD ENV PYTHONPATH=/opt/jaffle/${FOLDER}/src:/opt/jaffle/libs/jaffle_contract/src:/opt/jaffle/libs/jaffle_runtime/src:/opt/jaffle/libs/jaffle_data/src \
            JAFFLE_PACKAGE_DIR=/opt/jaffle/${FOLDER} \
            JAFFLE_TEAM=${TEAM} \
            JAFFLE_IMPORT_NAME=${IMPORT_NAME}
ONBUILD WORKDIR /opt/jaffle/${FOLDER}
USER ${JAFFLE_UID}:${JAFFLE_UID}
CMD ["python", "-c", "import importlib, os; name = os.environ['JAFFLE_IMPORT_NAME']; importlib.import_module(name); print(name, 'ready')"]
