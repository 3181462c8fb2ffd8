import { check } from '../core/validate.js';
import { MeridianError } from '../core/errors/index.js';
import type { Consumer } from '../core/model/index.js';
import { PHASES, type Phase, type Plugin, type PluginServices, type RequestContext, type ShortCircuit } from './contract.js';

/** Plugin configs by level. The same plugin named at several levels runs once, with the most specific config. */
export interface PluginLayers {
  global?: ReadonlyArray<Readonly<Record<string, unknown>>>;
  upstream?: Readonly<Record<string, unknown>> | undefined;
  route?: Readonly<Record<string, unknown>> | undefined;
  consumer?: Readonly<Record<string, unknown>> | undefined;
}

/** Precedence, least to most specific: consumer > route > upstream > global (APISIX's order). */
const LEVELS = ['global', 'upstream', 'route', 'consumer'] as const;

interface Bound {
  plugin: Plugin;
  config: unknown;
}

type Handler = (ctx: RequestContext, config: unknown) => ShortCircuit | undefined | void | Promise<ShortCircuit | undefined | void>;
interface Step {
  name: string;
  handler: Handler;
  config: unknown;
}

export function isThenable<T>(v: unknown): v is PromiseLike<T> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

export type MaybePromise<T> = T | PromiseLike<T>;

/** What the request phases decided: the chain for the response phases, and a short-circuit if any. */
export interface RequestOutcome {
  chain: CompiledChain;
  stop: ShortCircuit | undefined;
}

/**
 * Calls `run` and hands its result to `ok`, at once when it is not a promise (chains of
 * synchronous plugins cost no microtask); a throw or a rejection goes to `fail`.
 */
export function settle<T>(run: () => MaybePromise<T>, ok: (value: T) => void, fail: (err: unknown) => void): void {
  let value: MaybePromise<T>;
  try {
    value = run();
  } catch (err) {
    fail(err);
    return;
  }
  if (isThenable<T>(value)) value.then(ok, fail);
  else ok(value);
}

/**
 * A route's plugins, sorted and bound to their validated configs, with one array of steps per
 * phase so the hot path does no lookup and skips empty phases for free.
 */
export class CompiledChain {
  readonly empty: boolean;
  private readonly steps: Record<Phase, Step[]>;
  private readonly byConsumer = new WeakMap<Consumer, CompiledChain>();
  /** The outcome of a request no plugin stopped, shared (read only) instead of one object per request. */
  private readonly passed: RequestOutcome = Object.freeze({ chain: this, stop: undefined });

  constructor(
    private readonly registry: PluginRegistry,
    private readonly layers: PluginLayers,
    readonly bound: readonly Bound[],
    private readonly where: string,
  ) {
    const ordered = [...bound].sort((a, b) => b.plugin.priority - a.plugin.priority);
    const steps = Object.fromEntries(PHASES.map((p) => [p, [] as Step[]])) as Record<Phase, Step[]>;
    for (const { plugin, config } of ordered) {
      for (const phase of PHASES) {
        const handler = plugin.phases[phase] as Handler | undefined;
        if (handler) steps[phase].push({ name: plugin.name, handler, config });
      }
    }
    // Response phases run inner to outer.
    steps.header_filter.reverse();
    steps.log.reverse();
    this.steps = steps;
    this.empty = ordered.length === 0;
  }

  has(phase: Phase): boolean {
    return this.steps[phase].length > 0;
  }

  /**
   * Runs a phase. Synchronous plugins (most are) keep it synchronous: no promise and no
   * microtask per request; the first plugin that returns a promise makes the rest async.
   */
  private runPhase(phase: Phase, ctx: RequestContext): MaybePromise<ShortCircuit | undefined> {
    const steps = this.steps[phase];
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i] as Step;
      const out = step.handler(ctx, step.config);
      if (isThenable<ShortCircuit | undefined | void>(out)) {
        // The phase's last step: its promise is the phase's answer, no async wrapper around it.
        if (i === steps.length - 1) return out as PromiseLike<ShortCircuit | undefined>;
        return this.finishPhase(steps, i, out, ctx);
      }
      if (out) return out;
    }
    return undefined;
  }

  private async finishPhase(steps: Step[], at: number, pending: PromiseLike<ShortCircuit | undefined | void>, ctx: RequestContext): Promise<ShortCircuit | undefined> {
    const first = await pending;
    if (first) return first;
    for (let i = at + 1; i < steps.length; i++) {
      const step = steps[i] as Step;
      let out = step.handler(ctx, step.config);
      if (isThenable(out)) out = await out;
      if (out) return out;
    }
    return undefined;
  }

  /** The chain with the authenticated consumer's plugins merged in (cached per consumer). */
  withConsumer(consumer: Consumer): CompiledChain {
    // Looked up first: the per-request path allocates nothing (no Object.keys array).
    let chain = this.byConsumer.get(consumer);
    if (chain === undefined) {
      const none = !consumer.plugins || Object.keys(consumer.plugins).length === 0;
      chain = none ? this : this.registry.compile({ ...this.layers, consumer: consumer.plugins }, `${this.where} + consumer ${consumer.username}`);
      this.byConsumer.set(consumer, chain);
    }
    return chain;
  }

  /**
   * Request phases, outer to inner. Auth plugins run in `rewrite` and set ctx.consumer; the
   * consumer's own plugins then join for `access` and `before_proxy`. Returns the chain that
   * must run the response phases, and a short-circuit response if a plugin stopped the request.
   */
  request(ctx: RequestContext): MaybePromise<RequestOutcome> {
    const rewrite = this.runPhase('rewrite', ctx);
    if (isThenable(rewrite)) return rewrite.then((stop) => (stop ? { chain: this, stop } : this.afterRewrite(ctx)));
    return rewrite ? { chain: this, stop: rewrite } : this.afterRewrite(ctx);
  }

  private afterRewrite(ctx: RequestContext): MaybePromise<RequestOutcome> {
    const chain = ctx.consumer ? this.withConsumer(ctx.consumer) : this;
    const access = chain.runPhase('access', ctx);
    if (isThenable(access)) return access.then((stop) => (stop ? { chain, stop } : chain.beforeProxy(ctx)));
    return access ? { chain, stop: access } : chain.beforeProxy(ctx);
  }

  private beforeProxy(ctx: RequestContext): MaybePromise<RequestOutcome> {
    const stop = this.runPhase('before_proxy', ctx);
    if (isThenable(stop)) return stop.then((s) => (s ? { chain: this, stop: s } : this.passed));
    return stop ? { chain: this, stop } : this.passed;
  }

  /**
   * After the upstream's response headers arrive (or a short-circuit), inner to outer. A plugin
   * may return a response here (response-rewrite with a body or status): the gateway then drops
   * the upstream body and sends that instead. Callers that ignore the value keep working.
   */
  headerFilter(ctx: RequestContext): MaybePromise<ShortCircuit | undefined> {
    if (this.steps.header_filter.length > 0) return this.runPhase('header_filter', ctx);
    return undefined;
  }

  /** After the response is sent; a failing log plugin never affects the client. */
  log(ctx: RequestContext, onError: (name: string, err: unknown) => void): void {
    for (const step of this.steps.log) {
      try {
        const out = step.handler(ctx, step.config);
        if (isThenable(out)) out.then(undefined, (err: unknown) => onError(step.name, err));
      } catch (err) {
        onError(step.name, err);
      }
    }
  }
}

/**
 * The plugins a worker knows. Registration checks each module's shape (name, version, priority,
 * schema, phases; unknown phase throws); compile() validates every config against the plugin's
 * schema with defaults applied, naming the plugin, the level and the field on error.
 */
export class PluginRegistry {
  private readonly plugins = new Map<string, Plugin>();

  constructor(plugins: readonly Plugin[] = []) {
    for (const p of plugins) this.register(p);
  }

  register(plugin: Plugin): void {
    const p = plugin as Partial<Plugin> & { name?: unknown };
    const name = typeof p.name === 'string' ? p.name : '(unnamed)';
    for (const field of ['name', 'version', 'priority', 'schema', 'phases'] as const) {
      if (p[field] === undefined || p[field] === null) throw new MeridianError('MERIDIAN_ERR_PLUGIN_INVALID', { name, reason: `missing ${field}` });
    }
    if (typeof p.priority !== 'number' || !Number.isFinite(p.priority)) throw new MeridianError('MERIDIAN_ERR_PLUGIN_INVALID', { name, reason: 'priority must be a number' });
    for (const phase of Object.keys(plugin.phases)) {
      if (!(PHASES as readonly string[]).includes(phase)) {
        throw new MeridianError('MERIDIAN_ERR_PLUGIN_UNKNOWN_PHASE', { name, phase, phases: PHASES.join(', ') });
      }
    }
    if (this.plugins.has(plugin.name)) throw new MeridianError('MERIDIAN_ERR_PLUGIN_INVALID', { name, reason: 'registered twice' });
    this.plugins.set(plugin.name, plugin);
  }

  get(name: string): Plugin | undefined {
    return this.plugins.get(name);
  }

  names(): string[] {
    return [...this.plugins.keys()];
  }

  /** A plugin's config with defaults, or MERIDIAN_ERR_PLUGIN_CONFIG with the exact field and reason. */
  validateConfig(name: string, config: unknown, where: string): unknown {
    const plugin = this.plugins.get(name);
    if (!plugin) throw new MeridianError('MERIDIAN_ERR_PLUGIN_UNKNOWN', { name, where });
    const result = check(plugin.schema, config ?? {}, name);
    if (!result.ok) throw new MeridianError('MERIDIAN_ERR_PLUGIN_CONFIG', { name, where, field: result.field, reason: result.reason });
    const extra = plugin.check?.(result.value);
    if (extra) throw new MeridianError('MERIDIAN_ERR_PLUGIN_CONFIG', { name, where, field: extra.field, reason: extra.reason });
    return result.value;
  }

  /** A consumer's credential for an auth plugin (its credentialSchema), same error shape. */
  validateCredential(name: string, credential: unknown, where: string): unknown {
    const plugin = this.plugins.get(name);
    if (!plugin) throw new MeridianError('MERIDIAN_ERR_PLUGIN_UNKNOWN', { name, where });
    if (!plugin.credentialSchema) return this.validateConfig(name, credential, where);
    const result = check(plugin.credentialSchema, credential ?? {}, name);
    if (!result.ok) throw new MeridianError('MERIDIAN_ERR_PLUGIN_CONFIG', { name, where, field: result.field, reason: result.reason });
    return result.value;
  }

  compile(layers: PluginLayers, where: string): CompiledChain {
    const chosen = new Map<string, Bound>();
    for (const level of LEVELS) {
      const maps = level === 'global' ? (layers.global ?? []) : layers[level] ? [layers[level]] : [];
      for (const map of maps) {
        for (const [name, config] of Object.entries(map ?? {})) {
          // A consumer's entry for an auth plugin is its credential, not a plugin config.
          if (level === 'consumer' && this.plugins.get(name)?.credentialSchema) continue;
          chosen.set(name, { plugin: this.plugins.get(name) as Plugin, config: this.validateConfig(name, config, `${where} (${level})`) });
        }
      }
    }
    if (!layers.consumer) {
      const configs = new Map([...chosen].map(([name, b]) => [name, b.config]));
      for (const { plugin, config } of chosen.values()) {
        const err = plugin.checkChain?.(config, configs, where);
        if (err) throw err;
      }
    }
    return new CompiledChain(this, layers, [...chosen.values()], where);
  }

  async init(services: PluginServices): Promise<void> {
    for (const p of this.plugins.values()) await p.init?.(services);
  }

  async close(): Promise<void> {
    for (const p of this.plugins.values()) await p.close?.();
  }
}
