# One image for the Temporal worker (default command), the config service and the `rollout` CLI;
# docker-compose.yml picks the entry point per service.

FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Compiling needs no install scripts; skipping them keeps third-party code out of the build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build
# tsc emits only imported JSON; data files read from disk at run time (db/fixtures) must sit beside dist/.
RUN if [ -d db/fixtures ]; then mkdir -p dist/db && cp -R db/fixtures dist/db/; fi

# A separate production install, so nothing from the build's devDependencies (unleash-server, jest, tsx)
# reaches the final image.
FROM node:20.20-bookworm-slim AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# The runtime's native code (Temporal core bridge, swc) ships prebuilt in the packages; no script is needed.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20.20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the `node` user the process runs as: the app cannot rewrite its own code.
COPY package.json ./
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# 9464: worker Prometheus metrics; 8080: config service (/healthz, /readyz, /metrics).
EXPOSE 9464 8080
CMD ["node", "dist/src/worker/main.js"]
