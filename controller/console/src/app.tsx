import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, SIGNED_OUT, session, whoami, type Who } from './api';
import { BASE, navigate, usePath } from './nav';
import { SignIn } from './signin';
import { Overview } from './overview';
import { KINDS } from './kinds';
import { ResourceList } from './resource-list';
import { ResourcePage } from './resource-page';
import { Traffic } from './traffic';
import { VDomains } from './vdomains';
import { Deployments } from './deployments';
import { Operations } from './operations';

const PAGES = [
  { path: '/', title: 'Overview' },
  ...KINDS.map((k) => ({ path: `/${k.kind}`, title: k.title })),
  { path: '/traffic', title: 'Traffic' },
  { path: '/vdomains', title: 'Virtual domains' },
  { path: '/deployments', title: 'Deployments' },
  { path: '/operations', title: 'Operations' },
];

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
  // /<kind>, /<kind>/<id>, /<kind>/-/new (no id starts with "-").
  const res = /^\/([a-z_]+)(?:\/(.+))?$/.exec(path);
  const view = KINDS.find((k) => k.kind === res?.[1]);
  const rest = res?.[2];
  let page: JSX.Element;
  if (view && rest === undefined) page = <ResourceList key={view.kind} view={view} role={who.role} />;
  else if (view && rest !== undefined) page = <ResourcePage key={path} view={view} id={rest === '-/new' ? null : decodeURIComponent(rest)} role={who.role} />;
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
