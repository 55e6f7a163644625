# BrandPulse application image: one image for `brandpulse setup` and the four workers
# (ingest, enrich, index, alerts); docker-compose.yml picks the subcommand per service.
#
#   docker build -t brandpulse:local .          (docker compose build does the same)
#   docker run --rm brandpulse:local --help
#
# Two stages: the builder resolves the runtime dependencies (pinned by requirements.lock) into
# a virtualenv at /opt/brandpulse; the runtime stage is python:3.11-slim with only that venv and
# the default configuration. No compilers, no dev tools, no pip cache; runs as an unprivileged
# user; needs no network at run time other than Kafka and Elasticsearch (every model and lexicon
# ships inside the installed packages). The healthchecks live in docker-compose.yml.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ------------------------------------------------------------------ builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/brandpulse
ENV PATH=/opt/brandpulse/bin:$PATH
WORKDIR /src

# Dependencies first, in their own layer, so a code change does not re-download them.
# requirements.lock is the project's full lock (it pins the dev tools too); used with -c it only
# constrains versions: nothing outside [project.dependencies] is installed. A line pinning a local
# file (`name @ file:///...`, a wheel built on a developer's machine) cannot resolve in a build and
# is dropped from the constraints.
COPY pyproject.toml README.md requirements.lock ./
RUN grep -v ' @ file:' requirements.lock > /tmp/constraints.txt \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt -c /tmp/constraints.txt

# The project itself (a regular, non-editable install: the packages and their data files land
# in site-packages; no [dev] extra).
COPY brandpulse ./brandpulse
COPY ingest ./ingest
COPY enrich ./enrich
COPY index ./index
COPY alerts ./alerts
COPY app ./app
RUN pip install -c /tmp/constraints.txt . \
 && pip check

# ------------------------------------------------------------------ runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="brandpulse" \
      org.opencontainers.image.description="BrandPulse social-listening pipeline: setup job and workers" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/brandpulse/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BRANDPULSE_CONFIG=/app/config/brandpulse.yaml \
    BRANDPULSE_WORKERS__METRICS_HOST=0.0.0.0

RUN groupadd --system --gid 10001 brandpulse \
 && useradd --system --uid 10001 --gid brandpulse --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin brandpulse

# Same base image and same path as in the builder, so the venv's interpreter links stay valid.
COPY --from=builder /opt/brandpulse /opt/brandpulse
# Mount points of the per-worker Elasticsearch API key volumes (docker-compose.yml): a new named
# volume takes its owner from the image's directory, so the setup job (this user) can write them.
RUN mkdir -p /run/brandpulse/es-keys/index /run/brandpulse/es-keys/alerts /run/brandpulse/kafka-ca \
 && chown -R 10001:10001 /run/brandpulse \
 && chmod -R 0700 /run/brandpulse/es-keys
WORKDIR /app
# Default configuration (read-only for the app user); mount your own over /app/config or point
# BRANDPULSE_CONFIG elsewhere. Connection settings come from BRANDPULSE_* variables.
COPY config ./config

USER 10001:10001

# /metrics and /healthz of ingest, enrich, index, alerts (workers.<stage>_metrics_port).
EXPOSE 9101 9102 9103 9104

ENTRYPOINT ["brandpulse"]
CMD ["--help"]
