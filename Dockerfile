# syntax=docker/dockerfile:1
FROM rust:1.95-bookworm AS builder
WORKDIR /src
# The checked SQL macros read their query data from .sqlx/ (scripts/sqlx-prepare): no
# database is needed, or reachable, at build time.
ENV SQLX_OFFLINE=true
# Build the dependencies first so that code changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
# Cargo checks that every target named in Cargo.toml exists, the bench included, and
# loads every workspace member (tests/support, the test helpers' crate).
COPY benches ./benches
COPY tests/support ./tests/support
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin batch-import || true
COPY src ./src
COPY .sqlx ./.sqlx
COPY migrations ./migrations
# The defaults are compiled into the binary (include_str! in src/config.rs).
COPY config ./config
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin batch-import

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app app \
    && mkdir -p /data && chown app /data
WORKDIR /app
COPY --from=builder /src/target/release/batch-import /usr/local/bin/batch-import
COPY config ./config
USER app
ENV CONFIG_DIR=/app/config STORAGE_DIR=/data LISTEN_ADDR=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["batch-import"]
CMD ["serve"]
