import type { Consumer } from '../../../src/core/model/index.js';
import type { PluginServices } from '../../../src/plugins/index.js';

export interface Captured {
  level: 'info' | 'warn' | 'error';
  obj: object;
  msg: string | undefined;
}

/** Services for a test worker: a log kept in memory, consumers from a mutable holder. */
export function testServices(consumers: { list: readonly Consumer[] }, redisUrl?: string): PluginServices & { logs: Captured[] } {
  const logs: Captured[] = [];
  const at = (level: Captured['level']) => (obj: object, msg?: string) => {
    logs.push({ level, obj, msg });
  };
  return { redisUrl, log: { info: at('info'), warn: at('warn'), error: at('error') }, consumers: () => consumers.list, logs };
}
