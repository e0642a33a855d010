# portrait: build with the Rust toolchain, run on slim Debian as a non-root user.
# docker build -t portrait . && docker run -p 8000:8000 -v portrait-data:/data portrait

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, in a layer of their own: a code change rebuilds only
# portrait itself. (The full image has gcc, make and perl: libpq, OpenSSL
# and SQLite are built from source by cargo.)
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
# The manifest names the benchmark targets' files (built only on request).
COPY bench/*.rs bench/
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src target/release/portrait* target/release/deps/portrait* target/release/deps/libportrait*
COPY migrations migrations
COPY media/default.jpg media/default.jpg
COPY src src
RUN cargo build --release --locked --bin portrait

FROM debian:bookworm-slim
# CA roots for PostgreSQL over TLS with sslmode=verify-full (sslrootcert=/etc/ssl/certs/ca-certificates.crt).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /src/target/release/portrait /usr/local/bin/portrait
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin portrait \
    && mkdir -p /data/media \
    && chown -R portrait:portrait /data
USER 10001:10001
WORKDIR /data
ENV BIND_ADDR=0.0.0.0:8000 \
    DATABASE_URL=sqlite:///data/portrait.sqlite3 \
    MEDIA_ROOT=/data/media \
    LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["portrait", "healthcheck"]
ENTRYPOINT ["portrait"]
CMD ["serve"]
