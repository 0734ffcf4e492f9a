# Multi-stage build of the two product binaries (not the benchmark). The runtime image holds ktrdr
# and ktrdr-worker; pick one with the command (see docker-compose.yml). Migrations and SQL functions are embedded in the binaries.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ktrdr-cli -p ktrdr-worker \
 && cp target/release/ktrdr target/release/ktrdr-worker /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home ktrdr
COPY --from=build /usr/local/bin/ktrdr /usr/local/bin/ktrdr-worker /usr/local/bin/
USER ktrdr
# A worker exits 0 after SIGTERM once its operations are stopped (at most 25 s).
STOPSIGNAL SIGTERM
CMD ["ktrdr-worker"]
