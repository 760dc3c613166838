# Pasokh server image, built from the package (no secrets inside: settings and keys
# come from the environment at run time; see compose.yaml and docs/deploy.md).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY router router
COPY channels channels
COPY bot bot
COPY faq faq
COPY config config
RUN pip install '.[postgres]' && rm -rf /src

RUN useradd --system --uid 10001 --home-dir /var/lib/pasokh --create-home pasokh
USER pasokh
WORKDIR /var/lib/pasokh
ENV PASOKH_DATA_DIR=/var/lib/pasokh \
    PASOKH_SERVER__HOST=0.0.0.0 \
    PASOKH_SERVER__HTTP_PORT=8080
VOLUME /var/lib/pasokh
EXPOSE 8080 2525

HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"

CMD ["pasokh", "serve"]
