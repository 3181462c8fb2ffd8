import { useEffect, useState } from 'preact/hooks';

/** Client-side paths under /ui/ (the controller answers index.html for each of them). */
export const BASE = '/ui';

export function navigate(path: string): void {
  history.pushState(null, '', `${BASE}${path}`);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** The path after /ui, e.g. "/", "/routes", "/routes/shop". */
export function usePath(): string {
  const read = (): string => location.pathname.slice(BASE.length) || '/';
  const [path, setPath] = useState(read);
  useEffect(() => {
    const on = (): void => setPath(read());
    addEventListener('popstate', on);
    return () => removeEventListener('popstate', on);
  }, []);
  return path;
}

/** Calls `fn` now and every `ms` while mounted; a slow answer never overlaps the next call. */
export function usePoll(fn: () => Promise<void>, ms: number): void {
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async (): Promise<void> => {
      await fn().catch(() => undefined);
      if (!stopped) timer = setTimeout(() => void tick(), ms);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);
}
