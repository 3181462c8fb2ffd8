import type { Readable } from 'node:stream';
import { isThenable, settle, type CompiledChain, type MaybePromise, type RequestContext, type RequestOutcome, type ShortCircuit } from '../plugins/index.js';
import { BodyLimit } from '../proxy/body-limit.js';
import { applyHeaderEdits } from '../proxy/exchange.js';
import type { ProxyRequest } from '../proxy/request.js';
import type { CompiledRoute } from '../proxy/types.js';
import type { RuntimeUpstream } from '../upstream/runtime.js';
import type { WorkerContext } from './handler.js';
import { prepare } from './prepare.js';

/**
 * One request, plain (`Exchange`) or upgrade (`UpgradeRequest`), from arrival to upstream:
 * prepare (prepare.ts), the plugins' request phases when the route has any, then the
 * upstream. Every path ends in the request's `finish()` (src/proxy/request.ts): a refusal, a
 * plugin's answer, a plugin that failed, the client gone, and the upstream leg's own end.
 */
export function serve(w: WorkerContext, x: ProxyRequest, proto: 'http' | 'https'): void {
  if (!prepare(w, x, proto)) return;
  if (x.ctx === undefined) toUpstream(x);
  else requestPhases(x);
}

/** Host per pass_host (rewritten per node for `node`), then the request goes. */
function toUpstream(x: ProxyRequest): void {
  const upstream = x.upstream as RuntimeUpstream;
  const host = upstream.passHost === 'rewrite' ? (upstream.upstreamHost as string) : upstream.passHost === 'node' ? '' : (x.clientHeaders?.host ?? '');
  x.hostIndex = x.headers.push('host', host) - 1;
  x.forward();
}

/**
 * The plugins' rewrite, access and before_proxy phases; synchronous chains stay synchronous.
 * Written out rather than through settle(): no closures for a request whose chain is synchronous.
 */
function requestPhases(x: ProxyRequest): void {
  let outcome: MaybePromise<RequestOutcome>;
  try {
    outcome = (x.chain as CompiledChain).request(x.ctx as RequestContext);
  } catch (err) {
    pluginsFailed(x, err);
    return;
  }
  if (isThenable<RequestOutcome>(outcome)) outcome.then((o) => afterRequestPhases(x, o), (err: unknown) => pluginsFailed(x, err));
  else afterRequestPhases(x, outcome);
}

function afterRequestPhases(x: ProxyRequest, { chain, stop }: RequestOutcome): void {
  // The chain with the consumer's plugins, when one was found: it runs the response phases.
  x.chain = chain;
  if (x.clientGone()) {
    x.finish(499);
    return;
  }
  if (stop !== undefined) {
    shortCircuit(x, stop);
    return;
  }
  if (x.upstream === undefined) {
    x.refuse('MERIDIAN_ERR_GATEWAY_NO_UPSTREAM', { route: (x.route as CompiledRoute).id });
    return;
  }
  const ctx = x.ctx as RequestContext;
  if (x.body !== null) {
    const sent = upstreamBody(ctx, x.body as Readable, x.clientHeaders?.contentLength);
    if (typeof sent === 'number') {
      x.refuse('MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE', { limit: sent }, true);
      return;
    }
    x.body = sent;
  }
  applyHeaderEdits(x.headers, ctx.upstreamHeaders);
  x.checkedHeaders = 0; // a plugin's edit may sit anywhere in the list: every entry is checked
  x.path = ctx.upstreamPath + x.query;
  toUpstream(x);
}

/**
 * The body sent upstream once the request phases ran: the buffer a plugin already read
 * (ctx.requestBody, hmac-auth's digest), else the stream, limited to ctx.maxRequestBody
 * (body-limit) when set. A number: the limit a body is known to exceed (answer 413 now).
 */
function upstreamBody(ctx: RequestContext, body: Readable, contentLength: string | undefined): Readable | Buffer | number {
  const limit = ctx.maxRequestBody;
  const read = ctx.requestBody;
  if (read !== undefined) return limit !== undefined && read.length > limit ? limit : read;
  if (limit === undefined) return body;
  if (contentLength !== undefined) return Number(contentLength) > limit ? limit : body;
  // Chunked: counted while it streams; the exchange answers 413 when it passes the limit.
  const limited = new BodyLimit(limit, 'MERIDIAN_ERR_PLUGIN_BODY_TOO_LARGE');
  // Already the route's max_body_size stream: pipe() does not forward its error, the exchange must see it.
  if (body instanceof BodyLimit) body.once('error', (err) => limited.destroy(err));
  return body.pipe(limited);
}

/** A plugin answered in a request phase: header_filter runs on its answer, then it is sent. */
function shortCircuit(x: ProxyRequest, stop: ShortCircuit): void {
  (x.ctx as RequestContext).status = stop.status;
  settle(
    () => (x.chain as CompiledChain).headerFilter(x.ctx as RequestContext),
    () => answer(x, stop),
    (err: unknown) => {
      x.env.logPluginError('header_filter', err);
      answer(x, stop);
    },
  );
}

function answer(x: ProxyRequest, stop: ShortCircuit): void {
  x.answer(stop);
  x.finish(stop.status);
}

/** A request phase threw or rejected: 500, and the log phase still runs (finish). */
function pluginsFailed(x: ProxyRequest, err: unknown): void {
  x.env.logPluginError('request phases', err);
  const route = x.route as CompiledRoute;
  const consumer = (x.ctx as RequestContext).consumer;
  if (consumer !== undefined) {
    // The log phase of the chain the request reached: with the consumer's plugins once one was found.
    try {
      x.chain = route.chain.withConsumer(consumer);
    } catch {
      // that chain is what failed: the route's own logs the request
    }
  }
  x.refuse('MERIDIAN_ERR_PLUGIN_FAILED', { name: route.id, phase: 'request' });
}
