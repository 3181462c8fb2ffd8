import { createHash, timingSafeEqual } from 'node:crypto';
import { MeridianError } from '../../src/core/errors/index.js';
import type { Role } from '../config.js';

export interface Principal {
  name: string;
  role: Role;
}

const RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 };

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Bearer tokens checked against configured sha256 hashes: the config never holds a usable
 * secret, and the comparison takes the same time whatever the token.
 */
export class TokenAuth {
  private readonly tokens: Array<{ name: string; hash: Buffer; role: Role }>;

  constructor(tokens: ReadonlyArray<{ name: string; sha256: string; role: Role }>) {
    this.tokens = tokens.map((t) => ({ name: t.name, role: t.role, hash: Buffer.from(t.sha256, 'hex') }));
  }

  authenticate(header: string | undefined): Principal {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_UNAUTHORIZED');
    const presented = createHash('sha256').update(m[1] as string).digest();
    let found: Principal | undefined;
    // Every configured hash is compared, so the time does not tell which one (if any) matched.
    for (const t of this.tokens) {
      if (timingSafeEqual(presented, t.hash) && !found) found = { name: t.name, role: t.role };
    }
    if (!found) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_UNAUTHORIZED');
    return found;
  }

  static require(p: Principal, needed: Role, action: string): void {
    if (RANK[p.role] < RANK[needed]) throw new MeridianError('MERIDIAN_ERR_CONTROLLER_FORBIDDEN', { who: p.name, role: p.role, action, needed });
  }
}
