/**
 * What one TCP client may hold of the server (RFC 7766 §6.2.3, §10): connections per address,
 * time per message, idle time, buffered answers. Pure bookkeeping over timestamps: the
 * transport (transports.ts) owns the sockets and asks this table what to close.
 */
import { isIPv4 } from 'node:net';
import { parseIpv6 } from './wire.js';

export interface TcpLimits {
  /** Connections open at once; when full the least recently active one is closed for a new one. */
  maxConnections: number;
  /** Connections open at once from one IPv4 address or one IPv6 /64. */
  maxPerAddress: number;
  /** A message must be complete this long after its first byte, however it trickles. */
  messageMs: number;
  /** A connection with no message in progress is closed after this. */
  idleMs: number;
  /** Answers buffered in user space above which reading pauses. */
  writeBufferBytes: number;
  /** A connection whose answers stay above the buffer bound this long is closed. */
  writeStallMs: number;
}

export type CloseReason = 'per_address_limit' | 'evicted' | 'message_deadline' | 'idle' | 'write_stalled';

/** Per-connection timestamps (ms), 0 when not running. */
export interface ConnectionClock {
  /** Key of the client address (see addressKey). */
  readonly key: string;
  /** When the last complete message arrived (or the connection opened). */
  activeAt: number;
  /** First byte of the message in progress, 0 between messages. */
  messageAt: number;
  /** Since when the answers buffered are above the bound, 0 when below. */
  stalledAt: number;
}

/**
 * IPv4 addresses count one by one; IPv6 by /64, the smallest block a site gets, so one
 * client cannot take a connection per address of its prefix.
 */
export function addressKey(address: string): string {
  const bare = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (isIPv4(bare) || bare === '') return bare;
  return `${parseIpv6(bare).toString('hex', 0, 8)}/64`;
}

/** Why a connection has to close now, or undefined. */
export function expired(c: ConnectionClock, now: number, limits: TcpLimits): CloseReason | undefined {
  if (c.stalledAt > 0) return now - c.stalledAt >= limits.writeStallMs ? 'write_stalled' : undefined;
  if (c.messageAt > 0) return now - c.messageAt >= limits.messageMs ? 'message_deadline' : undefined;
  return now - c.activeAt >= limits.idleMs ? 'idle' : undefined;
}

export class ConnectionTable<T extends ConnectionClock> {
  private readonly open = new Set<T>();
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly limits: TcpLimits) {}

  get size(): number {
    return this.open.size;
  }

  entries(): IterableIterator<T> {
    return this.open.values();
  }

  /** Whether a new connection from `key` stays within the per-address limit. */
  admits(key: string): boolean {
    return (this.perAddress.get(key) ?? 0) < this.limits.maxPerAddress;
  }

  /**
   * The connection to close to make room for a new one when the table is full: the one whose
   * last complete message is oldest. A trickle never completes a message, so trickling and
   * idle connections go before any connection that is being answered.
   */
  victim(): T | undefined {
    if (this.open.size < this.limits.maxConnections) return undefined;
    let oldest: T | undefined;
    for (const c of this.open) if (!oldest || c.activeAt < oldest.activeAt) oldest = c;
    return oldest;
  }

  add(c: T): void {
    this.open.add(c);
    this.perAddress.set(c.key, (this.perAddress.get(c.key) ?? 0) + 1);
  }

  delete(c: T): void {
    if (!this.open.delete(c)) return;
    const n = (this.perAddress.get(c.key) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(c.key);
    else this.perAddress.set(c.key, n);
  }
}
