import { useState } from 'preact/hooks';
import type { JSX } from 'preact';

const ROW_PX = 32;
const VIEW_PX = 640;
const OVERSCAN = 8;

/** Only the rows in view (plus a few) are in the DOM: 10,000 routes cost as much as 30. */
export function VirtualList<T>(props: { items: readonly T[]; row: (item: T) => JSX.Element }): JSX.Element {
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.floor(top / ROW_PX) - OVERSCAN);
  const last = Math.min(props.items.length, Math.ceil((top + VIEW_PX) / ROW_PX) + OVERSCAN);
  return (
    <div class="vlist" ref={(el) => { if (el) el.style.height = `${VIEW_PX}px`; }} onScroll={(e) => setTop(e.currentTarget.scrollTop)}>
      <div ref={(el) => { if (el) el.style.height = `${props.items.length * ROW_PX}px`; }} class="vlist-space">
        {props.items.slice(first, last).map((item, i) => (
          <div class="vlist-row" key={first + i} ref={(el) => { if (el) el.style.top = `${(first + i) * ROW_PX}px`; }}>{props.row(item)}</div>
        ))}
      </div>
    </div>
  );
}
