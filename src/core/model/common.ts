import { Type, type ObjectOptions, type TSchema } from '@sinclair/typebox';

/** Object schema that rejects unknown keys (every config object in Meridian is strict). */
export function Strict<T extends Record<string, TSchema>>(properties: T, options: Omit<ObjectOptions, 'additionalProperties'> = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

/** Longest identifier (routes, upstreams, consumers, ...). */
export const ID_MAX_LENGTH = 128;

export const Id = Type.String({ minLength: 1, maxLength: ID_MAX_LENGTH, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'identifier: letters, digits, . _ -' });
export const HostPort = Type.String({ pattern: '^(\\[[0-9a-fA-F:]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$', description: 'host:port' });
export const Port = Type.Integer({ minimum: 1, maximum: 65535 });
export const Millis = (def: number, description: string) => Type.Integer({ minimum: 0, default: def, description: `${description} (ms, default ${def})` });
export const Hostname = Type.String({ minLength: 1, maxLength: 253, pattern: '^(\\*\\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\\.?$', description: 'DNS name; a leading *. is a wildcard' });
export const Cidr = Type.String({ pattern: '^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-fA-F:]+)/[0-9]{1,3}$', description: 'CIDR, IPv4 or IPv6' });
/** Plugin configs are validated by each plugin's own schema at load time. */
export const PluginMap = Type.Record(Type.String({ pattern: '^[a-z][a-z0-9-]*$' }), Type.Unknown(), { default: {}, description: 'plugin name -> plugin config (validated by the plugin)' });
