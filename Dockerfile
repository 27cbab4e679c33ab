# syntax=docker/dockerfile:1
#
# One image for every process (api, worker, relay, indexer, migrate): pick the entry point with the
# container command, e.g. `node_modules/.bin/tsx src/bin/worker.ts`. The default runs the API.
#
# The processes run TypeScript directly through tsx, which is a devDependency, so the image keeps
# the dev dependencies (no `--omit=dev`).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- deps: install node_modules exactly as locked -------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the image's npm (10.x) does not honour package.json `allowScripts`, and none of
# the install scripts are needed at run time here: argon2 loads its bundled prebuilt binary,
# embedded-postgres and anvil are for local development only. esbuild (used by tsx) is rebuilt
# explicitly so its platform binary is verified.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild esbuild \
 && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    API_HOST=0.0.0.0
WORKDIR /app

COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY migrations ./migrations
COPY temporal ./temporal
COPY scripts ./scripts

# Code stays owned by root (read-only for the app); only the data directory is writable.
RUN mkdir -p /app/.data && chown node:node /app/.data

USER node
EXPOSE 8080
CMD ["node_modules/.bin/tsx", "src/bin/api.ts"]
