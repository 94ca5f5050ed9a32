# syntax=docker/dockerfile:1
#
# redis-chaos: a small, static, non-root image.
#
#   docker build -t redis-chaos .
#   docker run --rm -p 7001-7009:7001-7009 -p 8470:8470 -e REDIS_CHAOS_API_TOKEN=secret \
#     redis-chaos proxy --upstream redis-1:6379 --listen-host 0.0.0.0 \
#       --announce-host 127.0.0.1 --api 0.0.0.0:8470
#
# The image has no shell and no redis-server: it runs the proxy in front of an
# existing cluster (sidecar mode). `redis-chaos up` needs redis-server on PATH, so it
# is for laptops and CI machines, not this image.

# ---- build ------------------------------------------------------------------------
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Dependencies first, in their own layer and cache, so code changes do not refetch them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/redis-chaos ./cmd/redis-chaos

# ---- run --------------------------------------------------------------------------
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/redis-chaos /redis-chaos
# 65532 is "nonroot" in distroless; nothing in the image needs a passwd entry.
USER 65532:65532
# Proxy ports (base-port 7001 + one per real node of a 9-node cluster), the control
# API (bind it off loopback only with REDIS_CHAOS_API_TOKEN set) and the token-free
# metrics and health listener (--metrics 0.0.0.0:9470).
EXPOSE 7001-7009 8470 9470
# No shell in the image: the binary checks its own /readyz (token from
# REDIS_CHAOS_API_TOKEN). Override --api if the API listens elsewhere.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/redis-chaos", "health", "--api", "127.0.0.1:8470"]
ENTRYPOINT ["/redis-chaos"]
CMD ["--help"]
