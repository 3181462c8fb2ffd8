import { createHash } from 'node:crypto';
import type { Consumer } from '../../core/model/index.js';
import { Lru } from '../shared/lru.js';
import type { RemoteKeySet } from './jwks.js';

/**
 * Tokens already verified, so a client that sends the same token again (the usual case) does
 * not pay a signature check each time (jose's WebCrypto verification costs several times the
 * old hand-written one). An entry holds for the exact token bytes (keyed by their SHA-256,
 * which bounds memory whatever the token length), and only while everything that judged it
 * is unchanged: the same route config object, the same consumers snapshot, the same fetch of
 * the JWKS that held the key. exp and nbf are checked again on every hit. Failures are never
 * cached. Bounded: 10,000 entries per worker, the least recently used pushed out.
 */
export interface Verified {
  readonly cfg: object;
  readonly snapshot: object;
  readonly keys: RemoteKeySet | undefined;
  readonly generation: number;
  readonly consumer: Consumer;
  readonly exp: number | undefined;
  readonly nbf: number | undefined;
}

const MAX_ENTRIES = 10_000;
const cache = new Lru<string, Verified>(MAX_ENTRIES);

export function tokenId(jwt: string): string {
  return createHash('sha256').update(jwt).digest('base64');
}

/** The consumer of a token verified before under the same judges and still in its time window. */
export function recall(id: string, cfg: object, snapshot: object, nowS: number, leewayS: number): Consumer | undefined {
  const v = cache.get(id);
  if (v === undefined || v.cfg !== cfg || v.snapshot !== snapshot) return undefined;
  if (v.keys !== undefined) {
    if (v.keys.generation !== v.generation) return undefined;
    v.keys.refreshIfStale(); // keys must age as they do for tokens that reach getKey
  }
  // The same comparisons as jose's: expired at exp <= now - leeway, early at nbf > now + leeway.
  if (v.exp !== undefined && v.exp <= nowS - leewayS) return undefined;
  if (v.nbf !== undefined && v.nbf > nowS + leewayS) return undefined;
  return v.consumer;
}

export function remember(id: string, v: Verified): void {
  cache.set(id, v);
}

export function forgetVerified(): void {
  cache.clear();
}
