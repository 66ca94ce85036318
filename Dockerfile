# The image helm/incidentd deploys: `docker build -t incidentd:0.1.0 .`
FROM python:3.11-slim
# The root filesystem may be read-only (the Helm chart makes it so): the service writes only to
# INCIDENTD_DATA_DIR (the embedded PostgreSQL, unused when DATABASE_URL is set) and /tmp.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 INCIDENTD_LOG_FORMAT=json \
    INCIDENTD_DATA_DIR=/var/lib/incidentd
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install --no-cache-dir . \
    && groupadd --system --gid 10001 incidentd \
    && useradd --system --uid 10001 --gid 10001 --no-create-home incidentd \
    && mkdir -p /var/lib/incidentd && chown 10001:10001 /var/lib/incidentd
COPY rules ./rules
COPY incident_templates ./incident_templates
USER 10001:10001
EXPOSE 8080
CMD ["incidentd", "serve"]
