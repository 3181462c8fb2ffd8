# syntax=docker/dockerfile:1
# One image for every Meridian program: `docker run meridian gateway -c FILE`, `... controller`,
# `... dns`, `... prober`, `... ctl`. Built from the same sources and lock file as `npm start`.

# ---- build: full dependencies (TypeScript), compile, then drop the dev dependencies ----------
FROM node:20-alpine AS build
WORKDIR /src
# Lock file first: the dependency layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY controller ./controller
COPY dns ./dns
COPY health ./health
COPY bench ./bench
COPY chaos ./chaos
COPY test/harness ./test/harness
COPY scripts/prepare.mjs ./scripts/prepare.mjs
# The web console (controller/console) is built by Vite into dist/console, served at /ui/.
RUN npm run build \
 && node scripts/prepare.mjs console \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/bench dist/chaos dist/test

# ---- runtime: Node, the compiled programs and production node_modules, nothing else ---------
FROM node:20-alpine AS runtime
# MERIDIAN_HEALTHCHECK_URL: the admin /healthz the HEALTHCHECK asks. Each program sets its own
# (gateway 9091, dns 9153, prober 9154, controller 9180) and, when its admin listener is bound
# to the container's IP rather than loopback, that address (docker-compose.yml does).
ENV NODE_ENV=production \
    MERIDIAN_LOG_LEVEL=info \
    MERIDIAN_HEALTHCHECK_URL=http://127.0.0.1:9091/healthz
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# State (gateway and DNS snapshots) goes to a volume; the code stays root-owned and read-only
# to the user the programs run as.
RUN mkdir -p /var/lib/meridian /etc/meridian && chown node:node /var/lib/meridian
VOLUME ["/var/lib/meridian"]
# The `node` user (uid 1000) of the base image: no program needs root. DNS on port 53 is
# allowed by the net.ipv4.ip_unprivileged_port_start sysctl (compose and k8s set it), not by root.
USER node
EXPOSE 9080 9091 9153 9154 9180 53/udp 53/tcp
# Graceful stop: the gateway answers /healthz 503 on SIGTERM, keeps serving drain.grace_ms,
# then waits for in-flight requests (drain.timeout_ms): give it that long before SIGKILL
# (docker stop -t / stop_grace_period / terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# No curl or wget in the image: Node's own fetch does the check (exit 0 healthy, 1 not).
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.MERIDIAN_HEALTHCHECK_URL,{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["--help"]
