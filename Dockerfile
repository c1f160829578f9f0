# Worker and CLI image: `docker run IMAGE` runs the worker; `docker run IMAGE node bin/fbb.js ...`
# (or `fbb ...`) runs the CLI. Build: docker build --build-arg PG_MAJOR=17 -t family-brain-backup .
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: dev dependencies, TypeScript, the prebuilt workflow bundle ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" (the build) would run before the sources are here; it runs below.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
RUN npm run build

# ---- production dependencies only ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev --ignore-scripts

# ---- runtime ----
FROM ${NODE_IMAGE}
# PostgreSQL client major version. pg_dump must be at least the server's major, and a dump made by
# pg_dump 17 or later starts with "SET transaction_timeout = 0", which a server older than 17 rejects
# when the dump is restored: keep it equal to the server's major (docs/deployment.md).
ARG PG_MAJOR=17
SHELL ["/bin/bash", "-euxo", "pipefail", "-c"]
# Client tools from the PostgreSQL project's apt repository (every supported major, latest patch).
# Its signing key comes out of Debian's postgresql-common package, so it arrives through Debian's
# signed archive rather than through a download of its own. The server of the same major, with
# pgvector, is the worker's own verification server (VERIFY_TARGET=worker, the default); no main
# cluster is created at install: the worker initialises its own in VERIFY_SERVER_DIR.
WORKDIR /tmp
RUN apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates; \
    apt-get download postgresql-common; \
    dpkg-deb --fsys-tarfile postgresql-common_*.deb \
      | tar -xO ./usr/share/postgresql-common/pgdg/apt.postgresql.org.asc > /usr/share/keyrings/apt.postgresql.org.asc; \
    test -s /usr/share/keyrings/apt.postgresql.org.asc; \
    rm postgresql-common_*.deb; \
    . /etc/os-release; \
    printf 'Types: deb\nURIs: https://apt.postgresql.org/pub/repos/apt\nSuites: %s-pgdg\nComponents: main\nSigned-By: /usr/share/keyrings/apt.postgresql.org.asc\n' \
      "$VERSION_CODENAME" > /etc/apt/sources.list.d/pgdg.sources; \
    apt-get update; \
    mkdir -p /etc/postgresql-common/createcluster.d; \
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/fbb.conf; \
    apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" zstd tini; \
    apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}" "postgresql-${PG_MAJOR}-pgvector"; \
    rm -rf /var/lib/apt/lists/*; \
    "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version; \
    test -f "/usr/share/postgresql/${PG_MAJOR}/extension/vector.control"; \
    zstd --version
SHELL ["/bin/sh", "-c"]

ENV NODE_ENV=production \
    PG_BIN_DIR=/usr/lib/postgresql/${PG_MAJOR}/bin \
    PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH \
    BACKUP_DIR=/backups \
    VERIFY_SERVER_DIR=/var/lib/family-brain-backup/verify-server \
    WORKER_HEALTH_ADDRESS=0.0.0.0:8081

WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# /backups belongs to the unprivileged user, so a new named volume mounted there does too.
RUN ln -s /app/bin/fbb.js /usr/local/bin/fbb \
 && mkdir -p /backups /var/lib/family-brain-backup/verify-server \
 && chown node:node /backups /var/lib/family-brain-backup/verify-server

USER node
EXPOSE 8081 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["node", "dist/src/healthcheck.js"]
# tini as PID 1 passes SIGTERM on to the worker (graceful shutdown) and reaps pg_dump/psql children.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/worker.js"]
