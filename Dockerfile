# talkstream server image. CPU by default; for NVIDIA GPUs build with a CUDA base and a matching torch wheel:
#   docker build -t talkstream .
#   docker build -t talkstream:cuda --build-arg BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 \
#                --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 .
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 TALKSTREAM_HOST=0.0.0.0 TALKSTREAM_HLS_ROOT=/var/lib/talkstream/hls

# The CUDA base images have no Python 3.11: install it there; the slim image already has it.
RUN if ! command -v python3.11 >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv && \
      rm -rf /var/lib/apt/lists/*; \
    fi && \
    apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/talkstream
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the index that matches the base image (CPU wheels by default).
RUN pip install --index-url ${TORCH_INDEX} "torch==2.13.0"
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install .

EXPOSE 9999
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import httpx; httpx.get('http://127.0.0.1:9999/healthz').raise_for_status()"
CMD ["talkstream"]
