# syntax=docker/dockerfile:1
# One image for the API server (the default command) and the worker (`node dist/src/worker.js`);
# docker-compose.yml runs both.

ARG NODE_VERSION=24

# --- build: all dependencies, TypeScript compiled to dist/ ---------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# mongodb-memory-server (the embedded development database) would download a mongod on install; containers
# always talk to the MONGODB_URI server.
ENV MONGOMS_DISABLE_POSTINSTALL=1
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and the compiled code, run as the unprivileged `node` user ------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    MONGOMS_DISABLE_POSTINSTALL=1
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# Read at run time: the email templates, and the browser IDE's own files (plain JS/CSS, which tsc does not copy).
COPY emails ./emails
COPY src/ide/public ./src/ide/public
# .data/ is the one folder the app writes to, in development only (the mail outbox without SENDGRID_API_KEY,
# the embedded database without MONGODB_URI): owned by the user it runs as.
RUN mkdir -p .data/outbox && chown -R node:node .data
USER node
EXPOSE 4000
# The API's liveness, with node itself (the slim image has no curl). The worker listens on WORKER_HEALTH_PORT
# instead; docker-compose.yml gives it its own healthcheck.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/server.js"]
