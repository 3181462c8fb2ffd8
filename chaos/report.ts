import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioResult } from './runner.js';
import { timelineSvg } from './svg.js';

/** chaos/report/README.md (summary table) and one SVG timeline per scenario. */
export function writeReport(dir: string, results: readonly ScenarioResult[], context: { rate: number; topology: string }): string {
  mkdirSync(dir, { recursive: true });
  const rows: string[] = [];
  const details: string[] = [];
  for (const r of results) {
    if (r.skipped) {
      rows.push(`| ${r.name} | skipped | ${r.skipped} | | | |`);
      continue;
    }
    if (r.error || !r.analysis) {
      rows.push(`| ${r.name} | ERROR | ${r.error ?? 'no analysis'} | | | |`);
      continue;
    }
    const a = r.analysis;
    const svg = `${r.name}.svg`;
    writeFileSync(join(dir, svg), timelineSvg(r.title, a.buckets, [
      { atMs: r.faultAt, label: 'fault', color: '#d62828' },
      { atMs: r.restoreAt, label: 'restored', color: '#6a4c93' },
      ...(a.recoverMs > 0 ? [{ atMs: r.faultAt + a.recoverMs, label: 'recovered', color: '#2a9d3a' }] : []),
    ]));
    rows.push(`| ${r.name} | ${a.pass ? 'pass' : 'FAIL'} | ${(a.failedShare * 100).toFixed(3)}% (${a.failed}/${a.total}) | ${a.retried} | ${a.detectMs === null ? '-' : `${(a.detectMs / 1000).toFixed(1)} s`} | ${(a.recoverMs / 1000).toFixed(1)} s |`);
    details.push(`### ${r.name}: ${r.title}\n\n![${r.name}](${svg})\n\n| check | value | bound | result |\n|---|---|---|---|\n${a.checks.map((c) => `| ${c.what} | ${c.value} | ${c.bound} | ${c.pass ? 'pass' : 'FAIL'} |`).join('\n')}\n`);
  }
  const md = `# Chaos report

Generated ${new Date().toISOString()} by \`npm run chaos\`: ${context.topology}; steady load of
${context.rate} requests/s from a client that resolves the demo business domain through
Meridian's DNS (with an EDNS client subnet in the first region), honours the TTL and retries
once on another address when a connection fails.

| scenario | result | failed after retry | retried | time to detect | time to recover |
|---|---|---|---|---|---|
${rows.join('\n')}

${details.join('\n')}`;
  writeFileSync(join(dir, 'README.md'), md);
  return md;
}
