# The FHIR facade as a container: the production entry (dist/index.js), compiled JavaScript,
# production dependencies only, as an unprivileged user. It refuses to start without
# NEXTECH_BASE_URL (and the credentials and keys a real Nextech needs; see README,
# "Running in production"). Build: docker build -t nextech-fhir-facade .
# Pinned to an exact Node.js 20 LTS release; move all three stages together.

FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# compose.yaml only: the embedded Nextech sandbox (synthetic data) as a stand-in Nextech.
# Never the image you ship (that is the last stage, the default target).
FROM build AS sandbox
ENV SANDBOX_HOST=0.0.0.0 \
    SANDBOX_PORT=8081
USER node
EXPOSE 8081
CMD ["node", "--import", "tsx", "src/sandbox/main.ts"]

FROM node:20.20.2-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    NODE_OPTIONS=--max-old-space-size=384
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json openapi.yaml ./
COPY mappings ./mappings
# DATA_DIR's mount point, owned by the unprivileged user (a fresh named volume takes this
# owner and mode); nothing in /app is writable by it.
RUN mkdir -p /var/lib/nextech-fhir && chown node:node /var/lib/nextech-fhir && chmod 700 /var/lib/nextech-fhir
# The image's unprivileged user (uid 1000).
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM reaches node directly (exec form): in-flight requests drain (SHUTDOWN_GRACE_SECONDS).
CMD ["node", "dist/index.js"]
