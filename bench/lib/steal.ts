import { readFileSync } from 'node:fs';

/** CPU time counters of the whole machine (Linux /proc/stat, in clock ticks); undefined elsewhere. */
function cpuTicks(): { steal: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    return { steal: f[7] ?? 0, total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

/**
 * Share of CPU time the hypervisor gave to other guests while a bench ran: on a shared VM a
 * run with much steal measured the neighbours too, and its figures say so next to them.
 */
export function stealMeter(): () => number | undefined {
  const start = cpuTicks();
  return () => {
    const end = cpuTicks();
    if (!start || !end || end.total === start.total) return undefined;
    return (end.steal - start.steal) / (end.total - start.total);
  };
}
