import { Type, type Static } from '@sinclair/typebox';
import { EtcdSettings, HostPort, Strict } from '../core/model/index.js';
import { DiscoveryConfig } from '../discovery/config.js';

/** One address or several (several HTTPS ports may each have their own default certificate). */
const Listen = Type.Union([HostPort, Type.Array(HostPort, { minItems: 1 })]);

/** `meridian gateway` config file. Every default is stated here. */
export const GatewayProgramConfig = Strict({
  node: Strict({
    name: Type.String({ minLength: 1, description: 'node name, unique in its cluster' }),
    cluster: Type.String({ minLength: 1, default: 'default', description: 'gateway cluster (default "default")' }),
    region: Type.String({ minLength: 1, description: 'region this node serves' }),
  }),
  listen: Strict({
    http: Type.Optional(Listen),
    https: Type.Optional(Listen),
    http2: Type.Boolean({ default: true, description: 'offer HTTP/2 over TLS via ALPN; HTTP/1.1 stays available (default true)' }),
    public_address: Type.Optional(HostPort),
  }, { default: {}, description: 'public listeners (host:port or a list); public_address is what the node registers (default: first http, else first https)' }),
  admin: Strict({
    listen: Type.String({ default: '127.0.0.1:9091', description: 'admin listener, never the public port (default 127.0.0.1:9091)' }),
    token_hash: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'sha256 hex of the admin bearer token (purge needs it; without it purge is refused)' })),
    purge_timeout_ms: Type.Integer({ minimum: 1, default: 5_000, description: 'deadline for every worker to apply a purge (ms, default 5000)' }),
  }, { default: {} }),
  workers: Type.Integer({ minimum: 0, default: 0, description: 'worker processes; 0 = one per core (default 0)' }),
  config: Strict({
    source: Type.Union([Type.Literal('etcd'), Type.Literal('file')], { default: 'etcd', description: 'where routes come from (default etcd)' }),
    file: Type.Optional(Type.String({ description: 'YAML data-plane config when source is file (watched, hot-reloaded)' })),
    etcd: Type.Optional(EtcdSettings),
    snapshot_file: Type.Optional(Type.String({ description: 'last-known-good snapshot; it holds TLS keys and consumer credentials, so it is written 0600 in a 0700 folder (default .meridian/gateway/<region>/<cluster>/<node>.snapshot.json, relative to the working directory)' })),
    debounce_ms: Type.Integer({ minimum: 0, default: 50, description: 'changes closer than this are applied together (ms, default 50)' }),
  }, { default: {} }),
  discovery: Type.Optional(DiscoveryConfig),
  redis: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'regional Redis URL handed to plugins (PluginServices.redisUrl); none by default' })),
  limits: Strict({
    max_headers: Type.Integer({ minimum: 1, default: 100, description: 'request header count above which the answer is 431 (default 100)' }),
    max_header_bytes: Type.Integer({ minimum: 1024, default: 16_384, description: 'request line + headers size limit, 431 above (bytes, default 16384)' }),
    headers_timeout_ms: Type.Integer({ minimum: 100, default: 10_000, description: 'slowloris guard: time to receive the headers (ms, default 10000)' }),
    request_timeout_ms: Type.Integer({ minimum: 0, default: 300_000, description: 'time to receive the whole request, 0 = none (ms, default 300000)' }),
    keepalive_timeout_ms: Type.Integer({ minimum: 0, default: 5_000, description: 'idle client keep-alive connections closed after (ms, default 5000)' }),
    timeouts_check_ms: Type.Integer({ minimum: 100, default: 1_000, description: 'how often header/request timeouts are checked (ms, default 1000)' }),
  }, { default: {} }),
  drain: Strict({
    grace_ms: Type.Integer({ minimum: 0, default: 5_000, description: 'after SIGTERM: keep serving (healthz 503) this long so DNS moves traffic away (ms, default 5000)' }),
    timeout_ms: Type.Integer({ minimum: 0, default: 30_000, description: 'then wait at most this long for in-flight requests (ms, default 30000)' }),
  }, { default: {} }),
  registration: Strict({
    ttl_s: Type.Integer({ minimum: 2, default: 10, description: 'lease TTL of the node registration (s, default 10)' }),
  }, { default: {} }),
});
export type GatewayProgramConfig = Static<typeof GatewayProgramConfig>;

export function listenList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export { splitHostPort } from '../core/admin-server.js';
