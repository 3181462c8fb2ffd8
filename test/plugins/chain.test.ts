import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { PluginRegistry, type Plugin, type RequestContext } from '../../src/plugins/index.js';
import { isMeridianError } from '../../src/core/errors/index.js';
import type { Consumer } from '../../src/core/model/index.js';
import { ctxFor } from './helpers/context.js';

/** A plugin that writes its name (and config tag) to a trace in each phase it has. */
function tracer(name: string, priority: number, trace: string[]): Plugin<{ tag: string }> {
  const mark = (phase: string) => (_ctx: RequestContext, cfg: { tag: string }) => {
    trace.push(`${phase}:${name}:${cfg.tag}`);
  };
  return {
    name,
    version: '1.0.0',
    priority,
    schema: Type.Object({ tag: Type.String({ default: 'none' }) }, { additionalProperties: false }),
    phases: { rewrite: mark('rewrite'), access: mark('access'), header_filter: mark('header_filter'), log: mark('log') },
  };
}

describe('plugin chain', () => {
  it('runs request phases outer to inner and response phases inner to outer (onion)', async () => {
    const trace: string[] = [];
    const reg = new PluginRegistry([tracer('inner', 10, trace) as Plugin, tracer('outer', 100, trace) as Plugin, tracer('middle', 50, trace) as Plugin]);
    const chain = reg.compile({ route: { inner: {}, outer: {}, middle: {} } }, 'route r1');
    const ctx = ctxFor();
    const { chain: run, stop } = await chain.request(ctx);
    expect(stop).toBeUndefined();
    await run.headerFilter(ctx);
    run.log(ctx, () => undefined);
    expect(trace).toEqual([
      'rewrite:outer:none', 'rewrite:middle:none', 'rewrite:inner:none',
      'access:outer:none', 'access:middle:none', 'access:inner:none',
      'header_filter:inner:none', 'header_filter:middle:none', 'header_filter:outer:none',
      'log:inner:none', 'log:middle:none', 'log:outer:none',
    ]);
  });

  it('precedence: consumer > route > upstream > global, each plugin once', async () => {
    const trace: string[] = [];
    const reg = new PluginRegistry([tracer('p', 10, trace) as Plugin, tracer('q', 5, trace) as Plugin]);
    const setConsumer: Plugin = {
      name: 'auth', version: '1', priority: 1000, schema: Type.Object({}),
      phases: { rewrite: (ctx) => { ctx.consumer = consumer; } },
      credentialSchema: Type.Object({ secret: Type.String() }),
    };
    reg.register(setConsumer);
    const consumer: Consumer = { username: 'alice', plugins: { p: { tag: 'consumer' }, auth: { secret: 'not a config' } } };
    const layers = { global: [{ p: { tag: 'global' }, q: { tag: 'global' } }], upstream: { p: { tag: 'upstream' } }, route: { p: { tag: 'route' }, auth: {} } };
    const chain = reg.compile(layers, 'route r1');
    const ctx = ctxFor();
    await chain.request(ctx);
    // rewrite ran before the consumer was known: route config; access runs with the consumer's.
    expect(trace.filter((t) => t.includes(':p:'))).toEqual(['rewrite:p:route', 'access:p:consumer']);
    expect(trace.filter((t) => t.includes(':q:'))).toEqual(['rewrite:q:global', 'access:q:global']);
    trace.length = 0;
    await reg.compile({ global: layers.global, upstream: layers.upstream }, 'r').request(ctxFor());
    expect(trace.filter((t) => t.includes(':p:'))).toEqual(['rewrite:p:upstream', 'access:p:upstream']);
  });

  it('a short-circuit stops the request phases', async () => {
    const trace: string[] = [];
    const stopper: Plugin = { name: 'stop', version: '1', priority: 50, schema: Type.Object({}), phases: { access: () => ({ status: 418 }) } };
    const reg = new PluginRegistry([tracer('a', 100, trace) as Plugin, stopper, tracer('b', 10, trace) as Plugin]);
    const { stop } = await reg.compile({ route: { a: {}, stop: {}, b: {} } }, 'r').request(ctxFor());
    expect(stop).toEqual({ status: 418 });
    expect(trace).toEqual(['rewrite:a:none', 'rewrite:b:none', 'access:a:none']);
  });

  it('registering an unknown phase throws with the exact message', () => {
    const bad = { name: 'bad', version: '1', priority: 1, schema: Type.Object({}), phases: { body_filter: () => undefined } } as unknown as Plugin;
    expect(() => new PluginRegistry([bad])).toThrow('plugin bad registers unknown phase "body_filter" (phases: rewrite, access, before_proxy, header_filter, log)');
  });

  it('a module missing a field is rejected', () => {
    const bad = { name: 'bad', version: '1', schema: Type.Object({}), phases: {} } as unknown as Plugin;
    expect(() => new PluginRegistry([bad])).toThrow('plugin module bad is invalid: missing priority');
  });

  it('bad config is rejected at compile with plugin, level, field and reason', () => {
    const reg = new PluginRegistry([tracer('p', 1, []) as Plugin]);
    try {
      reg.compile({ route: { p: { tag: 5 } } }, 'route r1');
      expect.unreachable();
    } catch (err) {
      expect(isMeridianError(err, 'MERIDIAN_ERR_PLUGIN_CONFIG')).toBe(true);
      expect((err as Error).message).toBe('plugin p at route r1 (route): tag: must be a string, got number 5');
    }
    expect(() => reg.compile({ global: [{ p: { nope: 1 } }] }, 'route r1')).toThrow('plugin p at route r1 (global): nope: unknown key');
    expect(() => reg.compile({ route: { zz: {} } }, 'route r1')).toThrow('unknown plugin "zz" at route r1 (route)');
  });
});
