import { Type, type Static } from '@sinclair/typebox';
import { EtcdSettings, HostPort, Strict } from '../src/core/model/index.js';

const zone = (options: { default?: string; description?: string } = {}) =>
  Type.String({ minLength: 1, maxLength: 253, pattern: '^([A-Za-z0-9_-]+\\.)*[A-Za-z0-9_-]+\\.?$', ...options });

/** `meridian dns` config file. Every default is stated next to its field. */
export const DnsProgramConfig = Strict({
  listen: HostPort,
  admin: Type.String({ default: '127.0.0.1:9153', description: 'metrics and healthz (default 127.0.0.1:9153)' }),
  zone: zone({ default: 'gw.example.net', description: 'zone served: the unified name and every <uuid>.<zone> (default gw.example.net)' }),
  delegated_zones: Type.Array(zone(), { default: [], description: 'business zones delegated to this server: bound domains in them get a CNAME to their virtual domain (default none)' }),
  unified_name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_-]+$', default: 'api', description: 'label of the unified gateway name <label>.<zone>, steered nearest (default api)' }),
  records: Type.Integer({ minimum: 1, maximum: 16, default: 2, description: 'A records per answer for the unified name (default 2; virtual domains set their own)' }),
  ttl: Type.Integer({ minimum: 0, maximum: 86_400, default: 5, description: 'TTL of steered answers for the unified name (default 5 s)' }),
  negative_ttl: Type.Integer({ minimum: 0, maximum: 86_400, default: 30, description: 'SOA minimum: how long NXDOMAIN/NODATA may be cached (default 30 s)' }),
  soa_ttl: Type.Integer({ minimum: 0, maximum: 86_400, default: 300, description: 'TTL of SOA, NS and TXT records (default 300 s)' }),
  nameservers: Type.Array(Strict({ name: Type.String({ minLength: 1 }), address: Type.String({ minLength: 2 }) }), {
    default: [],
    description: 'NS records of the zones: a label (under the zone) or a full name, and its address (default: ns1.<zone> at the listen address)',
  }),
  txt: Type.Array(Type.String({ maxLength: 255 }), { default: [], description: 'TXT strings at the zone apex (default none)' }),
  default_region: Type.Optional(Type.String({ minLength: 1, description: 'region for clients no CIDR table holds (default: the first region by name)' })),
  udp_size: Type.Integer({ minimum: 512, maximum: 4096, default: 1232, description: 'largest UDP answer, whatever the client advertises (default 1232, the DNS flag day size)' }),
  tcp_idle_ms: Type.Integer({ minimum: 100, default: 10_000, description: 'a TCP connection with no message in progress is closed after this (default 10000, RFC 7766)' }),
  tcp_message_ms: Type.Integer({ minimum: 100, default: 5_000, description: 'a TCP message must be complete this long after its first byte, or the connection is closed; a trickle does not extend it (default 5000)' }),
  tcp_max_connections: Type.Integer({ minimum: 1, default: 1_000, description: 'TCP connections open at once; when full, the least recently active one is closed for the new one (default 1000)' }),
  tcp_max_per_address: Type.Integer({ minimum: 1, default: 16, description: 'TCP connections open at once from one IPv4 address or IPv6 /64; more are refused (default 16)' }),
  tcp_write_buffer_bytes: Type.Integer({ minimum: 16_384, default: 65_536, description: 'answers buffered for a TCP client that does not read, above which its queries are no longer read (default 65536)' }),
  tcp_write_stall_ms: Type.Integer({ minimum: 100, default: 5_000, description: 'a TCP connection whose answers stay above tcp_write_buffer_bytes this long is closed (default 5000)' }),
  etcd: EtcdSettings,
  snapshot_file: Type.Optional(Type.String({ minLength: 1, description: 'last state on disk: loaded at start, so DNS answers even when etcd is down (default none)' })),
});
export type DnsProgramConfig = Static<typeof DnsProgramConfig>;
