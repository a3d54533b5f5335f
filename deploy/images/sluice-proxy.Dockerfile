# syntax=docker/dockerfile:1
# sluice-proxy, the sidecar: the injected proxy container and its capture init container
# (`sluice-proxy capture install`, which needs iptables) run this image. Non-root; the
# capture step alone gets NET_ADMIN and NET_RAW, from the injector's pod spec.
# Build from the repository's root:
#   docker build -f deploy/images/sluice-proxy.Dockerfile -t ghcr.io/sluice-mesh/sluice-proxy:0.1.0 .
# NODE_IMAGE must be a Debian-based Node 24 image with npm (the default, or a mirror of it).
ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/sluice
COPY package.json package-lock.json ./
# What runs, exactly as locked; koffi (SO_ORIGINAL_DST) comes with its prebuilt binaries.
RUN ["npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"]

FROM ${NODE_IMAGE}
# iptables for the capture step (iptables-nft, Debian's default, and iptables-legacy).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/sluice
ENV NODE_ENV=production \
    NODE_COMPILE_CACHE=/opt/sluice/.compile-cache \
    HOME=/tmp
COPY --from=deps /opt/sluice/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY certs ./certs
COPY kinds ./kinds
COPY xds ./xds
COPY proxy ./proxy
# Node's compile cache, baked in (see sluice-cp.Dockerfile): --version runs after every
# static import of sluice-proxy, with the flags of proxy/node-flags.ts, as uid 1337 (the
# cache is per user: the injector runs the proxy as 1337, the uid capture install spares).
RUN ["install", "-d", "-o", "1337", "-g", "1337", "/opt/sluice/.compile-cache"]
USER 1337:1337
RUN ["node", "--max-semi-space-size=1", "proxy/main.ts", "--version"]
# 15001 outbound and 15006 inbound (captured), 15000 admin, 15020 health and merged probes.
EXPOSE 15000 15001 15006 15020
# The flags of proxy/node-flags.ts (PROXY_NODE_FLAGS); test/deploy/images.test.ts keeps them equal.
ENTRYPOINT ["node", "--max-semi-space-size=1", "/opt/sluice/proxy/main.ts"]
