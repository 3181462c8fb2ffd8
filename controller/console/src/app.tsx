import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, SIGNED_OUT, session, whoami, type Who } from './api';
import { BASE, navigate, usePath } from './nav';
import { SignIn } from './signin';
import { Overview } from './overview';
import { RouteView, Routes } from './routes';
import { Traffic } from './traffic';
import { VDomains } from './vdomains';
import { Deployments } from './deployments';
import { Operations } from './operations';

const PAGES = [
  { path: '/', title: 'Overview' },
  { path: '/routes', title: 'Routes' },
  { path: '/traffic', title: 'Traffic' },
  { path: '/vdomains', title: 'Virtual domains' },
  { path: '/deployments', title: 'Deployments' },
  { path: '/operations', title: 'Operations' },
] as const;

function Link(props: { to: string; children: string; current: boolean }): JSX.Element {
  return (
    <a href={`${BASE}${props.to}`} aria-current={props.current ? 'page' : undefined} onClick={(e) => { e.preventDefault(); navigate(props.to); }}>
      {props.children}
    </a>
  );
}

export function App(): JSX.Element {
  const [who, setWho] = useState<Who | null | undefined>(undefined);
  const path = usePath();

  // A token kept from earlier in this tab is checked again: it may have been revoked.
  useEffect(() => {
    const out = (): void => setWho(null);
    addEventListener(SIGNED_OUT, out);
    if (!session.token()) setWho(null);
    else {
      whoami().then(setWho, (err: unknown) => {
        if (err instanceof ApiError && err.status === 401) session.clear();
        setWho(null);
      });
    }
    return () => removeEventListener(SIGNED_OUT, out);
  }, []);

  if (who === undefined) return <p class="loading">Loading…</p>;
  if (who === null) return <SignIn onSignedIn={setWho} />;

  const signOut = (): void => {
    session.clear();
    setWho(null);
  };
  const routeId = /^\/routes\/(.+)$/.exec(path)?.[1];
  let page: JSX.Element;
  if (routeId !== undefined) page = <RouteView id={decodeURIComponent(routeId)} role={who.role} />;
  else if (path === '/routes') page = <Routes role={who.role} />;
  else if (path === '/traffic') page = <Traffic />;
  else if (path === '/vdomains') page = <VDomains role={who.role} />;
  else if (path === '/deployments') page = <Deployments role={who.role} />;
  else if (path === '/operations') page = <Operations role={who.role} />;
  else page = <Overview />;

  return (
    <div class="shell">
      <header>
        <strong class="brand">Meridian</strong>
        <nav>
          {PAGES.map((p) => <Link key={p.path} to={p.path} current={p.path === '/' ? path === '/' : path.startsWith(p.path)}>{p.title}</Link>)}
        </nav>
        <span class="who" data-testid="who">{who.name} <span class={`role role-${who.role}`}>{who.role}</span></span>
        <button type="button" onClick={signOut}>Sign out</button>
      </header>
      <main>{page}</main>
    </div>
  );
}
