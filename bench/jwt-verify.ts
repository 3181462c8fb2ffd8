/**
 * CPU per verified token of jwt-auth, in process: 100,000 verifications each of an HS256 and an
 * RS256 (2048-bit) token with the consumer's key already loaded, one after the other (each
 * awaited): every one checked by jose (`cache_verified: false`), then the same token sent
 * again with the verified-token cache on (the default; the old code ignores the field). CPU is process.cpuUsage() (user + system of every thread: WebCrypto runs on the
 * libuv pool), so a verification moved off the main thread still counts.
 *
 *   npx tsx bench/jwt-verify.ts [module]   (module: a jwt-auth.ts to measure, default the current one)
 *
 * To measure another version, copy its jwt-auth.ts next to the current one (its relative
 * imports must resolve) and pass that path.
 */
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import type { Consumer } from '../src/core/model/index.js';
import type { Plugin } from '../src/plugins/contract.js';

interface JwtModule {
  JwtAuthConfig: TSchema;
  jwtAuth: Plugin;
  verifyJwt(jwt: string, cfg: unknown): Consumer | undefined | Promise<Consumer | undefined>;
}

const N = 100_000;
const WARMUP = 5_000;
const path = resolve(process.argv[2] ?? 'src/plugins/jwt-auth.ts');
const mod = (await import(pathToFileURL(path).href)) as JwtModule;

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const SECRET = 'bench-secret-0123456789-abcdefghij';
const consumers: Consumer[] = [
  { username: 'hs', plugins: { 'jwt-auth': { key: 'hs', secret: SECRET } } },
  { username: 'rs', plugins: { 'jwt-auth': { key: 'rs', algorithm: 'RS256', public_key: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString() } } },
];
await mod.jwtAuth.init?.({ redisUrl: undefined, log: { info: () => undefined, warn: () => undefined, error: () => undefined }, consumers: () => consumers });
const uncached = Value.Default(mod.JwtAuthConfig, { leeway_s: 60, cache_verified: false });
const cached = Value.Default(mod.JwtAuthConfig, { leeway_s: 60 });

const b64u = (x: object) => Buffer.from(JSON.stringify(x)).toString('base64url');
function token(alg: string, key: string, signer: (d: string) => Buffer): string {
  const data = `${b64u({ alg, typ: 'JWT' })}.${b64u({ key, sub: 'user-1', exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${data}.${signer(data).toString('base64url')}`;
}

async function measure(name: string, t: string, cfg: unknown): Promise<void> {
  const once = async () => {
    const c = await mod.verifyJwt(t, cfg);
    if (!c) throw new Error(`${name}: token refused`);
  };
  for (let i = 0; i < WARMUP; i++) await once();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await once();
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  console.log(`${name}: ${((cpu.user + cpu.system) / N).toFixed(1)} µs CPU/token, ${((wall * 1000) / N).toFixed(1)} µs wall/token (${N} verifications)`);
}

console.log(`jwt-auth from ${path}, Node ${process.version}`);
const hs = token('HS256', 'hs', (d) => createHmac('sha256', SECRET).update(d).digest());
const rs = token('RS256', 'rs', (d) => sign('sha256', Buffer.from(d), rsa.privateKey));
await measure('HS256', hs, uncached);
await measure('RS256', rs, uncached);
await measure('HS256 repeated (cache_verified)', hs, cached);
await measure('RS256 repeated (cache_verified)', rs, cached);
