import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import { renderConfigDocs } from '../../scripts/config-docs.js';

describe('docs/config.md', () => {
  it('matches the schemas (run `npm run docs:config` after changing one)', () => {
    expect(readFileSync(join(PROJECT_ROOT, 'docs', 'config.md'), 'utf8')).toBe(renderConfigDocs());
  });

  it('states defaults next to fields', () => {
    const md = renderConfigDocs();
    expect(md).toContain('| `interval_ms` | integer (>= 100) | `1000` |');
  });
});
