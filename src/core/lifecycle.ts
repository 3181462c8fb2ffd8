/**
 * The one lifecycle of every long-lived part (watchers, probers, discovery sources):
 * parse strictly and apply defaults (validate() with the part's schema), then start, then stop.
 * stop() must be safe to call twice and after a failed start.
 */
export interface Lifecycle {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Stops parts in reverse start order, collecting (not throwing) failures. */
export async function stopAll(parts: readonly Lifecycle[]): Promise<Error[]> {
  const errors: Error[] = [];
  for (const part of [...parts].reverse()) {
    try {
      await part.stop();
    } catch (err) {
      errors.push(err as Error);
    }
  }
  return errors;
}
