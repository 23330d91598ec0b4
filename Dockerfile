# Keywarden application image: web (gunicorn), Celery worker and beat, and the HSM emulator.
FROM python:3.11-slim AS app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --create-home --uid 10001 keywarden
COPY pyproject.toml README.md ./
COPY core ./core
COPY accounts ./accounts
COPY portal ./portal
COPY keys ./keys
COPY approvals ./approvals
COPY audit ./audit
COPY hsm_emulator ./hsm_emulator
RUN pip install .
COPY . .
RUN SECRET_KEY=collectstatic-only STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput -v 0
ENV STATIC_ROOT=/app/staticfiles KEYWARDEN_DATA_DIR=/data
RUN mkdir -p /data/audit && chown -R keywarden /data
USER keywarden
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
