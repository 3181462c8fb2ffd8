import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, session, whoami, type Who } from './api';

/** The token is checked with GET /v1/whoami before it is kept; the form never submits itself. */
export function SignIn(props: { onSignedIn: (who: Who) => void }): JSX.Element {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const who = await whoami(token.trim());
      session.save(token.trim());
      props.onSignedIn(who);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'This token is not valid.' : `Sign-in failed: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="signin" method="post" onSubmit={(e) => void submit(e)}>
      <h1>Meridian console</h1>
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
      <button type="submit" disabled={busy || token.trim() === ''}>Sign in</button>
      {error && <p class="error" role="alert">{error}</p>}
      <p class="hint">The token stays in this tab only (sessionStorage) and is sent as a bearer token.</p>
    </form>
  );
}
