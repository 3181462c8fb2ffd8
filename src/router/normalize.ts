/**
 * Request-target normalisation, done once before routing so that the path a route's plugins
 * were chosen for is exactly the path sent upstream: `/a/../admin` and `/%2e%2e/admin` cannot
 * reach `/admin` while being routed as something else.
 */
export interface NormalisedTarget {
  /** Normalised path, always starting with '/'. */
  path: string;
  /** Query string including its '?', or ''. */
  query: string;
}

const SLASH = 47;
const DOT = 46;
const PERCENT = 37;
const QUESTION = 63;
const BACKSLASH = 92;

/** Returns the normalised target, or undefined when the target is not an origin-form path (400). */
export function normaliseTarget(url: string): NormalisedTarget | undefined {
  if (url.charCodeAt(0) !== SLASH) return undefined;
  // Fast path: one scan; most request paths need nothing done.
  const len = url.length;
  let q = -1;
  let suspicious = false;
  let prev = 0;
  for (let i = 0; i < len; i++) {
    const c = url.charCodeAt(i);
    if (c === QUESTION) {
      q = i;
      break;
    }
    if (c === PERCENT || c === BACKSLASH || (prev === SLASH && (c === DOT || c === SLASH)) || c < 33 || c === 127) suspicious = true;
    prev = c;
  }
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  if (!suspicious) return { path: rawPath, query };
  return slowNormalise(rawPath, query);
}

function slowNormalise(rawPath: string, query: string): NormalisedTarget | undefined {
  const out: string[] = [];
  for (const raw of rawPath.split('/')) {
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      // Control characters and backslashes (some upstreams treat it as '/') are refused outright.
      if (c < 33 || c === 127 || c === BACKSLASH) return undefined;
    }
    // Encoded dots and slashes are how dot-segments sneak past naive checks: decode the dots,
    // refuse encoded '/' and '\' (they would change the segment structure upstream).
    let seg = raw;
    if (seg.includes('%')) {
      if (/%(2f|5c|00)/i.test(seg)) return undefined;
      seg = seg.replace(/%2e/gi, '.');
    }
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return undefined; // above the root
      out.pop();
      continue;
    }
    out.push(seg);
  }
  const trailing = rawPath.length > 1 && (rawPath.endsWith('/') || rawPath.endsWith('/.') || rawPath.endsWith('/..'));
  const path = `/${out.join('/')}${trailing && out.length > 0 ? '/' : ''}`;
  return { path, query };
}
