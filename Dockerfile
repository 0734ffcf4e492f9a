# Multi-stage build of the product binaries from a clean clone. The build stage installs
# libtorch with the project's own script (torch==2.13.0 from PyPI); the runtime stage carries the
# binaries and exactly the shared libraries `ldd` finds them needing outside the base image, in
# /opt/ktrdr/lib, with ktrdr-worker-torch's RUNPATH rewritten to $ORIGIN/../lib (patchelf), so
# nothing needs LD_LIBRARY_PATH. (ktrdr-worker links no libtorch; asked for training or backtesting
# it execs ktrdr-worker-torch beside it.) scripts/check-runtime-image.sh lays out the same files and runs them.
#
#   docker build -t ktrdr .                                   # CPU (libtorch's CUDA stubs only)
#   docker build --build-arg RUNTIME_BASE=nvidia/cuda:13.0.0-runtime-ubuntu24.04 -t ktrdr:cuda .
# The PyPI wheel is CUDA-enabled; the CUDA variant only changes the runtime base to one with
# NVIDIA's driver-facing libraries (run it with the NVIDIA container runtime).
ARG RUNTIME_BASE=debian:bookworm-slim

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-pip patchelf \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/ensure-libtorch.sh \
 && cargo build --release --locked -p ktrdr-cli -p ktrdr-worker -p ktrdr-worker-torch \
 && scripts/runtime-layout.sh target/release /out

FROM ${RUNTIME_BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/ktrdr ktrdr
COPY --from=build /out/ /opt/ktrdr/
ENV PATH=/opt/ktrdr/bin:$PATH \
    KTRDR_HOME=/var/lib/ktrdr/.ktrdr \
    KTRDR_OUTBOX_DIR=/var/lib/ktrdr/outbox \
    KTRDR_ARTIFACTS_PATH=/var/lib/ktrdr/artifacts
WORKDIR /var/lib/ktrdr
USER ktrdr
RUN mkdir -p /var/lib/ktrdr/outbox /var/lib/ktrdr/artifacts
# A worker exits 0 after SIGTERM once its operations are stopped (at most 25 s; give it 30).
STOPSIGNAL SIGTERM
# The database is reachable and migrated (`ktrdr health` exits non-zero otherwise).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["ktrdr", "--no-migrate", "health", "--json"]
CMD ["ktrdr-worker", "--no-migrate"]
