import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/core/servers/binaries.js';
import { BENCHMARKS } from './registry.js';
import type { BenchResult } from './lib/types.js';
import { stealMeter } from './lib/steal.js';

/** `npm run bench [name...]`: runs the benchmarks, writes bench/results/<name>.json, prints a table. */
async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  const chosen = argv.length > 0 ? BENCHMARKS.filter((b) => argv.includes(b.name)) : BENCHMARKS;
  const dir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const rows: string[][] = [];
  let failed = 0;
  for (const [i, bench] of chosen.entries()) {
    process.stderr.write(`[bench ${i + 1}/${chosen.length}] ${bench.name}: ${bench.description}\n`);
    const started = Date.now();
    const steal = stealMeter();
    try {
      const { figures, details } = await bench.run((m) => process.stderr.write(`  ${m}\n`));
      const stolen = steal();
      const result: BenchResult = { name: bench.name, description: bench.description, date: new Date().toISOString(), machine: { cpus: cpus().length, node: process.version, cpu_steal: stolen }, figures, details };
      writeFileSync(join(dir, `${bench.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
      for (const [fig, f] of Object.entries(figures)) {
        if (!f.pass) failed++;
        rows.push([bench.name, fig, `${round(f.value)} ${f.unit}`, f.baseline === null ? '-' : `${round(f.baseline)}`, f.ratio === null ? '-' : `${f.ratio.toFixed(3)}x`, f.target, f.pass ? 'pass' : 'FAIL']);
      }
      const stealNote = stolen === undefined ? '' : `; CPU stolen by other guests of the host: ${(stolen * 100).toFixed(1)}%${stolen > 0.05 ? ' (noisy run: figures measured the neighbours too)' : ''}`;
      process.stderr.write(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s${stealNote}\n`);
    } catch (err) {
      failed++;
      rows.push([bench.name, '(error)', (err as Error).message.slice(0, 60), '-', '-', '-', 'FAIL']);
    }
  }
  printTable(['bench', 'figure', 'value', 'baseline', 'ratio', 'target', 'result'], rows);
  return failed > 0 ? 1 : 0;
}

function round(n: number): string {
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2);
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  process.stdout.write(`${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`);
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
