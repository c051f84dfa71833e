# voucher-service: gunicorn as a non-root user; configuration by environment (README.md,
# "Running it for real"). compose.yaml runs it with PostgreSQL, Redis, the migrations and
# the worker.
#
# The base image is an exact tag: CPython 3.11.16 on Debian 12 (bookworm), slim. The
# dependencies are those of requirements.lock, each file checked against its hash; `make
# lock` regenerates it from pyproject.toml.
ARG PYTHON_IMAGE=python:3.11.16-slim-bookworm

# Stage 1: the project's wheel, which carries the code, the JSON Schemas and the migrations.
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY voucher_service ./voucher_service
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

# Stage 2: the image.
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VOUCHER_SERVICE_ENV=production \
    VOUCHER_SERVICE_KEYS_DIR=/etc/voucher-service/keys \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    PORT=8000 \
    WEB_CONCURRENCY=4

# The user, its keys folder (a volume mounted there takes its owner) and the metrics folder.
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin voucher \
    && install -d -o voucher -g voucher -m 0700 /etc/voucher-service/keys \
    && install -d -o voucher -g voucher -m 0700 /tmp/prometheus

# The dependencies first, alone: this layer is rebuilt only when requirements.lock changes.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

# Then the project, leaving the dependencies as they are.
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels

WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=2)"

# Gunicorn with the package's settings: PORT, WEB_CONCURRENCY; the service logs JSON lines.
# Migrations run once before, as their own job: `voucher-service db upgrade` (compose's
# `migrate`); the periodic jobs as another process: `voucher-service worker`.
CMD ["gunicorn", "-c", "python:voucher_service.gunicorn_conf", "voucher_service.wsgi:app"]
