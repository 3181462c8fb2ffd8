/** What Map and WeakMap share. */
interface Keyed<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): unknown;
}

/** The map one level down under `key`, made on first use (no closure: this runs per request). */
export function inner<K, K2, V>(map: Keyed<K, Map<K2, V>>, key: K): Map<K2, V> {
  let v = map.get(key);
  if (v === undefined) {
    v = new Map();
    map.set(key, v);
  }
  return v;
}
