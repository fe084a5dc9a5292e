# syntax=docker/dockerfile:1
# Build stage: compile the release binary.
# The toolchain the project is tested with.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY domain ./domain
COPY adapters ./adapters
COPY src ./src
COPY sandbox ./sandbox
COPY tests ./tests
RUN cargo build --release --locked --bin qloophone

# Runtime stage: a slim image with the binary and CA certificates.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --create-home qloophone \
    && mkdir -p /app/cache \
    && chown qloophone /app/cache
WORKDIR /app
COPY --from=build /src/target/release/qloophone /usr/local/bin/qloophone
USER qloophone
ENV PORT=8081 \
    LOG_FORMAT=json \
    QLOOPHONE_QLOO__API_LOG=/app/cache/api_calls.log
# The entity cache snapshot (cache/entities.json) and api_calls.log live here.
VOLUME ["/app/cache"]
EXPOSE 8081
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
ENTRYPOINT ["qloophone"]
CMD ["serve"]
