# Worker and CLI image. PostgreSQL client tools must be at least the server's major version.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 zstd ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
COPY bin ./bin
RUN npm ci --no-audit --no-fund && npm prune --omit=dev
ENV PG_BIN_DIR=/usr/lib/postgresql/15/bin
USER node
ENTRYPOINT ["node", "bin/fbb.js"]
