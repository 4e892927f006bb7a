# syntax=docker/dockerfile:1
#
# drift-exporter image: a Rust builder, then a distroless runtime with the binary, the default
# config and the sample reference, laid out like the repository so the default config's
# relative paths work unchanged.
#
#   docker build -t drift-exporter .
#   docker run --rm -p 9877:9877 drift-exporter
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

FROM rust:1.95-slim-bookworm AS builder
# The git revision for drift_exporter_build_info{revision} (.git is not in the build context):
#   docker build --build-arg DRIFT_EXPORTER_REVISION="$(git rev-parse --short=12 HEAD)" .
ARG DRIFT_EXPORTER_REVISION=unknown
WORKDIR /src
# The whole source tree (see .dockerignore): manifests, src/, benches/, tests/.
COPY . .
# Dependency caching: the cargo registry and target/ live in BuildKit cache mounts, so a change
# to src/ recompiles only this crate, not its dependencies. target/ is a cache, not part of the
# image, hence the copy of the binary out of it.
RUN --mount=type=cache,id=drift-exporter-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=drift-exporter-target,target=/src/target \
    cargo build --release --locked --bin drift-exporter \
    && install -D -m 0755 target/release/drift-exporter /out/drift-exporter \
    && install -d -m 0755 /out/state

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="drift-exporter" \
      org.opencontainers.image.description="Data and prediction drift of an ML model (PSI, KL, KS, chi-square) as Prometheus metrics" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/drift-exporter /usr/local/bin/drift-exporter
# Checkpoints of the file sources (tail offsets, files done): a folder the non-root user
# (uid 65532 in distroless) can write, and a place to mount a volume.
COPY --from=builder --chown=65532:65532 /out/state /var/lib/drift-exporter
ENV DRIFT_EXPORTER__STATE__PATH=/var/lib/drift-exporter/state.json

# The repository's layout under /app: the binary's default config path is
# config/drift-exporter.toml relative to the working directory, and paths inside a config are
# relative to the config's folder (../reference-data/...).
WORKDIR /app
COPY --chown=65532:65532 config/drift-exporter.toml config/drift-exporter.toml
COPY --chown=65532:65532 reference-data/reference.parquet reference-data/reference.parquet
COPY --chown=65532:65532 reference-data/samples/ reference-data/samples/

# Numeric: distroless' `nonroot` user, spelled as its uid so Kubernetes' runAsNonRoot can
# verify it (a user name cannot be checked against the host) and hadolint DL3066 holds.
USER 65532:65532
EXPOSE 9877
# The daemon stops its sources, finishes the batch in hand and writes its checkpoints on SIGTERM.
STOPSIGNAL SIGTERM
# No shell or curl in distroless: the binary asks its own /healthz (127.0.0.1:9877; add
# --address if you change --web.listen-address).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/drift-exporter", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/drift-exporter"]
CMD ["serve", "--config", "config/drift-exporter.toml"]
