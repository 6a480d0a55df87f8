# The chatperf images. `service`: the chat service and its embedded simulator (pip install .,
# no harness); `harness`: the same plus the load harness's libraries, for the Locust containers.
# docker-compose.yml picks the target and the command. Build: docker compose build.
# The base image is pinned to an exact Python release and every library to constraints.txt.
FROM python:3.11.11-slim-bookworm AS service

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
RUN pip install --constraint constraints.txt . \
    && useradd --create-home --uid 10001 chatperf

USER chatperf
EXPOSE 8000 8001
CMD ["python", "-m", "service", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]

FROM service AS harness

USER root
RUN pip install --constraint constraints.txt '.[harness]'
USER chatperf
EXPOSE 8089
