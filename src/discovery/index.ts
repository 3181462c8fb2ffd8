// The discovery module's public surface (see README.md in this folder).
export { DiscoveryManager } from './manager.js';
export type { DiscoveryManagerOptions, PurgeFilter, PurgeResult, PurgedEntry, EntrySnapshot } from './manager.js';
export { ConsulNodeSource } from './consul-node-source.js';
export { DiscoveryConfig, ConsulDnsServer, parseDiscoveryConfig } from './config.js';
export type { DiscoveryConfigInput } from './config.js';
export { nodeKey, diffNodes } from './node-identity.js';
export type { LookupResult } from './cache-entry.js';
export { PurgeRequest, parsePurgeRequest } from './purge-request.js';
export { matchesInstance } from './node-identity.js';
