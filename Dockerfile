# threatwatch: multi-stage image. The builder installs CPU-only torch and the package into a venv;
# the runtime stage copies that venv, the shipped models and nothing else, and runs as a non-root user.
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# PyPI's Linux torch wheel pulls CUDA libraries (GBs). Where policy allows another index, build with
# --build-arg TORCH_INDEX_URL=<PyTorch's CPU wheel index> for a much smaller image.
ARG TORCH_INDEX_URL=""
RUN pip install "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY pipelines ./pipelines
RUN pip install .

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 threatwatch
COPY --from=builder /opt/venv /opt/venv
COPY models /opt/threatwatch/models
COPY labelled_data /opt/threatwatch/labelled_data
ENV PATH=/opt/venv/bin:$PATH \
    THREATWATCH_MODEL_DIR=/opt/threatwatch/models \
    THREATWATCH_LABELLED_DATA_DIR=/opt/threatwatch/labelled_data \
    THREATWATCH_DATA_DIR=/data \
    THREATWATCH_HOST=0.0.0.0 \
    HF_HUB_OFFLINE=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1
RUN mkdir /data && chown threatwatch /data
USER threatwatch
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["sh", "-c", "threatwatch db upgrade && threatwatch serve"]
