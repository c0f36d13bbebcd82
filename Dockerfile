# syntax=docker/dockerfile:1
# One image for every role: `web` (default), `worker`, `beat`, `migrate`, `bootstrap`,
# `manage ...` (scripts/container-entrypoint). Build: docker build -t resourcemanager .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml ./
# The dependencies only: the app runs from /app, beside its templates. This layer is rebuilt
# only when pyproject.toml changes. Every dependency ships wheels for CPython 3.11 on
# x86_64 and aarch64, so no compiler is needed (--only-binary makes that a build error).
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && /opt/venv/bin/pip install --only-binary=:all: -r requirements.txt

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Owned by root and read-only for the app user; the only writable place it needs is /tmp.
COPY . .
# Settings refuse to load without these two; the values exist only in this RUN (a key
# generated on the spot), never in the image's environment. collectstatic connects to no
# database.
RUN SECRET_KEY=collectstatic-only-not-a-secret \
    RM_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    DATABASE_URL=postgres://collectstatic@127.0.0.1/none \
    python manage.py collectstatic --noinput \
    && python -m compileall -q config resourcemanager providers consumers audit manage.py

USER 10001:10001
EXPOSE 8000
# For `web`: GET /healthz with python's urllib (no curl here). Compose and the Helm chart
# give worker and beat checks of their own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/app/scripts/container-entrypoint", "web-alive"]
ENTRYPOINT ["/app/scripts/container-entrypoint"]
CMD ["web"]
