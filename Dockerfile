# syntax=docker/dockerfile:1
# Build stage: compile the release binary.
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY domain ./domain
COPY adapters ./adapters
COPY src ./src
COPY tests ./tests
RUN cargo build --release --locked --bin qloophone

# Runtime stage: a slim image with the binary and CA certificates.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --create-home qloophone
WORKDIR /app
COPY --from=build /src/target/release/qloophone /usr/local/bin/qloophone
USER qloophone
ENV PORT=8081 \
    LOG_FORMAT=json
EXPOSE 8081
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
ENTRYPOINT ["qloophone"]
CMD ["serve"]
