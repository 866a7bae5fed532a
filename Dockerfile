# syntax=docker/dockerfile:1
# The ovms image: `docker run IMAGE --model_name m --model_path /models/m --port 9000 --rest_port 8000`,
# OVMS's command line as OVMS's own image takes it. Build: docker build -t ovms .
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ovms_cli ./ovms_cli
COPY deploy/docker ./deploy/docker
# deploy/docker/install-runtime.sh is the one install step; tests/deploy/test_docker_install.py runs
# the same script. pip's cache lives in a build cache mount, never in a layer.
RUN --mount=type=cache,target=/root/.cache/pip deploy/docker/install-runtime.sh /opt/ovms .

FROM python:${PYTHON_VERSION}-slim-bookworm
ARG VERSION=dev
LABEL org.opencontainers.image.title="ovms" \
      org.opencontainers.image.description="An OpenVINO model server in Python with the KServe v2 and TensorFlow Serving APIs over gRPC and REST" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="python:${PYTHON_VERSION}-slim-bookworm"
# UID/GID 5000, user ovms: as in OVMS's images, so volume permissions carry over.
RUN groupadd --system --gid 5000 ovms \
    && useradd --system --uid 5000 --gid ovms --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ovms
COPY --from=build /opt/ovms /opt/ovms
ENV PATH=/opt/ovms/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp
USER 5000:5000
EXPOSE 9000 8000
# The ports are read from the ovms process's own command line (PID 1 or, under an init or a shell
# wrapper, its first ovms descendant); see deploy/docker/healthcheck.py.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["/opt/ovms/bin/python", "/opt/ovms/healthcheck.py"]
ENTRYPOINT ["/opt/ovms/bin/ovms"]
