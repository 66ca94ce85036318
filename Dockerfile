# The image helm/incidentd deploys: `docker build -t incidentd:0.1.0 .`
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 INCIDENTD_LOG_FORMAT=json
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install --no-cache-dir . && useradd --system --uid 10001 incidentd
COPY rules ./rules
COPY incident_templates ./incident_templates
USER 10001
EXPOSE 8080
CMD ["incidentd", "serve"]
