# The chatperf app image: the service, the simulated upstream and Locust all run from it
# (docker-compose.yml picks the command). Build: docker compose build.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
RUN pip install . \
    && useradd --create-home --uid 10001 chatperf

USER chatperf
EXPOSE 8000 8001 8089
CMD ["python", "-m", "service", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
