/** One row of `meridian up`'s status table. */
export interface StatusRow {
  name: string;
  kind: string;
  region: string;
  address: string;
  pid: number | undefined;
  state: string;
  restarts: number;
}

const COLUMNS = ['name', 'kind', 'region', 'address', 'pid', 'state', 'restarts'] as const;

export function renderTable(rows: readonly StatusRow[]): string {
  const cells = rows.map((r) => COLUMNS.map((h) => String(r[h] ?? '-')));
  const widths = COLUMNS.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]) => c.map((x, i) => x.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** What a row change is worth a line for (not the pid alone: a restart line says that). */
function summary(r: StatusRow): string {
  return `${r.state}${r.restarts ? `, ${r.restarts} restart(s)` : ''}`;
}

/**
 * The live status of `meridian up`. On a terminal the table stays at the bottom and is
 * redrawn in place when a row changes, `up`'s own lines scrolling above it; anywhere else
 * (a pipe, a file) the table is printed once and each change is a line of its own, so a log
 * reads top to bottom.
 */
export class StatusView {
  private rows: StatusRow[] | undefined;
  /** Lines of the table now on the terminal. */
  private drawn = 0;
  private shown = true;

  /** `columns`: the terminal's width, so lines it wraps are counted when the table is erased. */
  constructor(
    private readonly write: (text: string) => void,
    private readonly tty: boolean,
    private readonly columns: () => number | undefined = () => undefined,
  ) {}

  /** A line of `up`'s own. */
  line(text: string): void {
    if (!this.tty) {
      this.write(`${text}\n`);
      return;
    }
    this.write(`${this.erase()}${text}\n${this.draw()}`);
  }

  /** The current status of every member. */
  update(rows: StatusRow[]): void {
    const before = this.rows;
    this.rows = rows;
    if (!this.shown) return;
    if (this.tty) {
      if (before === undefined || renderTable(before) !== renderTable(rows)) this.write(`${this.erase()}${this.draw()}`);
      return;
    }
    if (before === undefined) {
      this.write(`${renderTable(rows)}\n`);
      return;
    }
    const old = new Map(before.map((r) => [r.name, summary(r)]));
    for (const r of rows) {
      if (old.get(r.name) !== summary(r)) this.write(`[up] status: ${r.name} ${summary(r)}${r.pid !== undefined ? ` (pid ${r.pid})` : ''}\n`);
    }
  }

  /** No more table (the cluster is stopping: lines only from now on). */
  hide(): void {
    if (this.tty && this.shown) this.write(this.erase());
    this.shown = false;
  }

  private erase(): string {
    if (this.drawn === 0) return '';
    const n = this.drawn;
    this.drawn = 0;
    // Up to the table's first line, then clear to the end of the screen.
    return `\x1b[${n}A\r\x1b[J`;
  }

  private draw(): string {
    if (!this.rows || !this.shown) return '';
    const table = renderTable(this.rows);
    const width = this.columns() ?? Infinity;
    this.drawn = table.split('\n').reduce((n, l) => n + Math.max(1, Math.ceil(l.length / width)), 0);
    return `${table}\n`;
  }
}
