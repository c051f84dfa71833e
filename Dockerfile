# voucher-service: gunicorn behind a non-root user. Configuration is by environment
# (DATABASE_URL, VOUCHER_SERVICE_KEYS_DIR, VOUCHER_SERVICE_SECRET, PUBLIC_BASE_URL, ...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VOUCHER_SERVICE_ENV=production \
    VOUCHER_SERVICE_SCHEMAS=/app/schemas

WORKDIR /app
COPY pyproject.toml README.md ./
COPY voucher_service ./voucher_service
COPY schemas ./schemas
# The same install step as `make`: the project and its dependencies from pyproject.toml.
RUN pip install --no-cache-dir --upgrade pip && pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /app voucher

USER voucher
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)" || exit 1

# Migrations run as a separate step: docker run IMAGE voucher-service db upgrade
CMD ["gunicorn", "--workers", "4", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "voucher_service.wsgi:app"]
