interface Slot<V> {
  value: V;
  /** read since the eviction sweep last passed it */
  used: boolean;
}

/**
 * A size-bounded map that pushes out entries not read recently (CLOCK, second chance: an
 * approximation of least-recently-used). A hit only sets a flag: re-inserting on every hit,
 * as a strict LRU on a Map does, churned the Map's table and cost most of a plugin's time.
 * When full, an insert sweeps on from where the last one stopped: read entries get a second
 * chance (moved to the newest end, flag cleared), the first one not read since is evicted.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, Slot<V>>();
  /**
   * The sweep's position, kept between inserts: a fresh iterator would step again over every
   * slot the evictions left empty at the Map's start (V8 compacts a Map's table only now and
   * then), which cost tens of microseconds per insert in a full cache of 100,000.
   */
  private hand: MapIterator<[K, Slot<V>]> | undefined;
  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    const s = this.map.get(key);
    if (s === undefined) return undefined;
    s.used = true;
    return s.value;
  }

  set(key: K, value: V): void {
    const s = this.map.get(key);
    if (s !== undefined) {
      s.value = value;
      s.used = true;
      return;
    }
    if (this.map.size >= this.max) this.evictOne();
    this.map.set(key, { value, used: false });
  }

  private evictOne(): void {
    // Ends: each lap clears the flags it meets, so at worst the second lap finds one unread.
    for (;;) {
      this.hand ??= this.map.entries();
      const next = this.hand.next();
      if (next.done === true) {
        this.hand = undefined;
        if (this.map.size === 0) return;
        continue;
      }
      const [k, s] = next.value;
      this.map.delete(k);
      if (!s.used) return;
      s.used = false;
      this.map.set(k, s);
    }
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
    this.hand = undefined;
  }

  get size(): number {
    return this.map.size;
  }
}
