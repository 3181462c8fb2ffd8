/**
 * Keeps String.prototype in V8's fast-properties mode.
 *
 * A class that extends String (ioredis' `VerbatimString`) makes V8 normalise String.prototype
 * to a dictionary when it becomes that class's prototype parent, and it stays one. Optimized
 * code can then no longer treat `s.charCodeAt`, `s.toLowerCase`, `s.startsWith`... as
 * constants: every string method call does a generic inline-cache lookup (`LoadIC`), which
 * measured 6-9 % of a gateway worker's CPU per proxied request.
 *
 * Property loads through a String wrapper from an inline cache that has feedback make V8 walk
 * the prototype chain and migrate it back to fast properties (JSObject::MakePrototypesFast);
 * the prototype is then marked to be kept fast, so a later `extends String` leaves it fast.
 * Call this after importing a module that subclasses String (it costs microseconds, once).
 */
export function restoreFastStringPrototype(): void {
  const wrapper = new String('');
  // Enough calls for the inline cache to get feedback (V8 allocates it lazily).
  for (let i = 0; i < 200; i++) probe(wrapper);
}

function probe(o: object): unknown {
  return (o as { meridianFastPrototypeProbe?: unknown }).meridianFastPrototypeProbe;
}
