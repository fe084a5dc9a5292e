# syntax=docker/dockerfile:1
# Build stage: compile the release binary.
# The toolchain the project is tested with.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Only what the binary is built from (no tests, benches' data or docs).
COPY Cargo.toml Cargo.lock ./
COPY domain ./domain
COPY adapters ./adapters
COPY src ./src
COPY sandbox ./sandbox
# BuildKit cache mounts keep the crates' downloads and the compiled
# dependencies between builds, so a source change recompiles only our four
# crates. The target directory is a cache, not a layer: the binary is
# copied out of it in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin qloophone \
    && cp target/release/qloophone /usr/local/bin/qloophone

# Runtime stage: a slim image with the binary and CA certificates.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --create-home qloophone \
    && mkdir -p /app/cache /app/memory \
    && chown qloophone /app/cache /app/memory
WORKDIR /app
COPY --from=build /usr/local/bin/qloophone /usr/local/bin/qloophone
USER qloophone
ENV PORT=8081 \
    LOG_FORMAT=json \
    QLOOPHONE_QLOO__API_LOG=/app/cache/api_calls.log \
    QLOOPHONE_MEMORY__FILE=/app/memory/callers.json
# The entity cache snapshot (cache/entities.json) and api_calls.log live here.
VOLUME ["/app/cache"]
# Callers who asked to be remembered (with MEMORY_SECRET and no Redis):
# personal data, kept apart from the cache.
VOLUME ["/app/memory"]
EXPOSE 8081
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
ENTRYPOINT ["qloophone"]
CMD ["serve"]
