import { describe, expect, it } from 'vitest';
import { StatusView, type StatusRow } from '../../src/cli/up/status-view.js';

const row = (state: string, restarts = 0, pid: number | undefined = 10): StatusRow => ({ name: 'gateway-east-1', kind: 'gateway', region: 'east', address: '127.0.1.11:9080', pid, state, restarts });

describe('meridian up status view', () => {
  it('not a terminal: the table once, then a line per change', () => {
    let out = '';
    const view = new StatusView((t) => (out += t), false);
    view.update([row('healthy')]);
    expect(out).toContain('gateway-east-1  gateway  east');
    out = '';
    view.update([row('healthy')]);
    expect(out).toBe('');
    view.update([{ ...row('restarting'), pid: undefined }]);
    view.update([row('healthy', 1, 11)]);
    view.line('[up] something');
    expect(out).toBe('[up] status: gateway-east-1 restarting\n[up] status: gateway-east-1 healthy, 1 restart(s) (pid 11)\n[up] something\n');
  });

  it('a terminal: the table stays at the bottom, redrawn in place (wrapped lines counted)', () => {
    let out = '';
    const view = new StatusView((t) => (out += t), true, () => 40);
    view.update([row('healthy')]);
    // Three lines of about 70 characters on a 40-column terminal: six screen lines.
    out = '';
    view.line('[up] gateway-east-1 exited');
    expect(out.startsWith('\x1b[6A\r\x1b[J[up] gateway-east-1 exited\n')).toBe(true);
    expect(out).toContain('healthy');
    out = '';
    view.update([row('healthy')]);
    expect(out).toBe('');
    view.update([row('restarting')]);
    expect(out.startsWith('\x1b[6A\r\x1b[J')).toBe(true);
    out = '';
    view.hide();
    view.line('[up] stopping');
    expect(out).toBe('\x1b[6A\r\x1b[J[up] stopping\n');
  });
});
