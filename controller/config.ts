import { Type, type Static } from '@sinclair/typebox';
import { EtcdSettings, HostPort, Strict } from '../src/core/model/index.js';

export const Role = Type.Union([Type.Literal('read'), Type.Literal('write'), Type.Literal('admin')]);
export type Role = Static<typeof Role>;

/** `meridian controller` config file. Every default is stated next to its field. */
export const ControllerProgramConfig = Strict({
  listen: Type.String({ default: '127.0.0.1:9180', description: 'admin API listener (default 127.0.0.1:9180)' }),
  node_id: Type.Optional(Type.String({ minLength: 1, description: 'this replica\'s name in the leader key (default <hostname>-<pid>)' })),
  etcd: EtcdSettings,
  regional_prefix: Type.String({ pattern: '^/', default: '/meridian', description: 'key prefix in every regional etcd (default /meridian)' }),
  tokens: Type.Array(Strict({
    name: Type.String({ minLength: 1, description: 'who: recorded in the audit log' }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'sha256 hex of the bearer token' }),
    role: Role,
  }), { default: [], description: 'API tokens (hashes only)' }),
  zone: Type.String({ default: 'gw.example.net', description: 'virtual domain zone (default gw.example.net)' }),
  delegated_zones: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'business zones delegated to Meridian DNS, as in the DNS servers\' delegated_zones: a binding in one is answered by Meridian DNS, one outside every zone gets a warning with the CNAME to publish (default none)' }),
  gateway_admin_token: Type.String({ default: '', description: 'bearer token sent to gateway admin endpoints (purge); the gateways hold its hash (default none)' }),
  max_body_bytes: Type.Integer({ minimum: 1024, default: 1_048_576, description: 'largest API request body (default 1 MiB)' }),
  leader: Strict({
    ttl_s: Type.Integer({ minimum: 1, default: 5, description: 'leader lease TTL: a dead leader is replaced within about this time (default 5)' }),
  }, { default: {} }),
  reconcile: Strict({
    backoff_min_ms: Type.Integer({ minimum: 10, default: 200, description: 'first retry delay after a failed regional write (default 200)' }),
    backoff_max_ms: Type.Integer({ minimum: 10, default: 5_000, description: 'longest retry delay (default 5000)' }),
    resync_s: Type.Integer({ minimum: 1, default: 30, description: 'full re-check of every region even without changes (default 30)' }),
    region_timeout_ms: Type.Integer({ minimum: 100, default: 2_000, description: 'deadline of each regional etcd call (default 2000)' }),
  }, { default: {} }),
  purge: Strict({
    deadline_ms: Type.Integer({ minimum: 50, default: 2_000, description: 'how long to wait for gateway acks (default 2000)' }),
    consul_wait_s: Type.Integer({ minimum: 1, maximum: 600, default: 30, description: 'blocking query wait (default 30)' }),
    min_interval_ms: Type.Integer({ minimum: 0, default: 200, description: 'least time between two blocking calls of one watch: the rate limit (default 200)' }),
  }, { default: {} }),
  deploy: Strict({
    check_interval_ms: Type.Integer({ minimum: 100, default: 2_000, description: 'how often the leader advances timed steps and scrapes error rates (default 2000)' }),
  }, { default: {} }),
  dns: Strict({
    servers: Type.Array(HostPort, { default: [], description: 'the `meridian dns` servers (host:port, UDP and TCP) asked for GET /v1/vdomains/{id}/answer, in order: the first that answers is shown (default none: the endpoint answers 503)' }),
    timeout_ms: Type.Integer({ minimum: 50, maximum: 10_000, default: 1_000, description: 'deadline of one DNS server\'s answer before the next is asked (default 1000)' }),
  }, { default: {} }),
  audit: Strict({
    max_records: Type.Integer({ minimum: 1, default: 50_000, description: 'most audit records kept in central etcd; the leader deletes the oldest beyond it (default 50000: at most 16 KiB each, typically 1-2 KiB)' }),
    max_age_days: Type.Integer({ minimum: 1, default: 90, description: 'audit records older than this are deleted by the leader (default 90)' }),
    trim_interval_s: Type.Integer({ minimum: 1, default: 600, description: 'how often the leader deletes the audit records past max_records or max_age_days, in batches of 100 keys per etcd transaction; also once when it is elected (default 600)' }),
  }, { default: {} }),
  traffic: Strict({
    scrape_interval_ms: Type.Integer({ minimum: 100, default: 5_000, description: 'how often the gateways\' /metrics are scraped for GET /v1/traffic, while someone asked for it within idle_s (default 5000)' }),
    node_timeout_ms: Type.Integer({ minimum: 50, default: 2_000, description: 'deadline of one gateway node\'s scrape (default 2000)' }),
    idle_s: Type.Integer({ minimum: 1, default: 600, description: 'scraping stops (and its 15 minutes of samples are dropped) this long after the last GET /v1/traffic (default 600)' }),
  }, { default: {} }),
});
export type ControllerProgramConfig = Static<typeof ControllerProgramConfig>;
