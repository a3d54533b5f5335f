# syntax=docker/dockerfile:1
# sluice-cp, the control plane (and sluicectl, for `kubectl exec`), on Node 24, non-root.
# Build from the repository's root:
#   docker build -f deploy/images/sluice-cp.Dockerfile -t ghcr.io/sluice-mesh/sluice-cp:0.1.0 .
#   buildah bud -f deploy/images/sluice-cp.Dockerfile -t ghcr.io/sluice-mesh/sluice-cp:0.1.0 .
# NODE_IMAGE must be a Debian-based Node 24 image with npm (the default, or a mirror of it).
ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim

# Dependencies alone, so a change to the sources does not reinstall them.
FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/sluice
COPY package.json package-lock.json ./
# What runs, exactly as locked: no TypeScript, no test tools. No install scripts (koffi
# ships prebuilt binaries; package.json's allowScripts denies its script too).
RUN ["npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"]

FROM ${NODE_IMAGE}
WORKDIR /opt/sluice
# HOME: sluicectl reads ~/.sluice; uid 65532 has no home of its own.
ENV NODE_ENV=production \
    NODE_COMPILE_CACHE=/opt/sluice/.compile-cache \
    HOME=/tmp
COPY --from=deps /opt/sluice/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY certs ./certs
COPY kinds ./kinds
COPY xds ./xds
COPY control-plane ./control-plane
# Node's compile cache, baked in: one start that loads every module sluice-cp imports
# (--version runs after all static imports) writes the type-stripped sources and V8's code
# to NODE_COMPILE_CACHE, so no start of the image loads the TypeScript stripper. The cache
# is keyed by path, Node version and user: it holds for this image run as uid 65532 (the
# Deployment's runAsUser), so the start that writes it runs as that user (Node names the
# folder <version>-<arch>-<hash>-<uid>: one baked as root is never read by 65532). The root
# filesystem is read-only in the pod; Node then just skips writing what it did not find.
RUN ["install", "-d", "-o", "65532", "-g", "65532", "/opt/sluice/.compile-cache"]
USER 65532:65532
RUN ["node", "control-plane/main.ts", "--version"]
RUN ["node", "control-plane/cli/sluicectl.js", "--version"]
# 15012 xDS and certificates (gRPC over TLS), 15014 the API, 15017 the sidecar injector.
EXPOSE 15012 15014 15017
ENTRYPOINT ["node", "/opt/sluice/control-plane/main.ts"]
