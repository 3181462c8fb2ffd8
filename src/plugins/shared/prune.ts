/**
 * Makes room in a size-bounded Map without a per-hit cost (unlike an LRU, a hit does not
 * reorder): call it before inserting when `map.size >= max`. Entries `dead` says may go are
 * removed first; if that leaves the map above 90 % of `max`, the oldest inserted go until it is
 * at 90 %, so the O(n) pass runs at most once per max/10 inserts.
 */
export function pruneMap<K, V>(map: Map<K, V>, max: number, dead: (v: V) => boolean): void {
  for (const [k, v] of map) if (dead(v)) map.delete(k);
  const keep = Math.floor(max * 0.9);
  if (map.size <= keep) return;
  let drop = map.size - keep;
  for (const k of map.keys()) {
    if (drop-- <= 0) break;
    map.delete(k);
  }
}
