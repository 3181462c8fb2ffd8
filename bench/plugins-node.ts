/**
 * One gateway worker in its own process, for bench/plugins.bench.ts: the gateway's own worker
 * code (GatewayWorker) serving a data-plane config given as JSON in argv[2]. Its plugin
 * registry hands the config's consumers to the plugins (PluginServices.consumers), which is
 * what `meridian gateway` has to do for auth plugins; until it does, the bench runs this.
 * Prints `READY <port>` when it serves.
 */
import { pino } from 'pino';
import { validate } from '../src/core/validate.js';
import type { Consumer, GatewayConfig } from '../src/core/model/index.js';
import { GatewayProgramConfig } from '../src/gateway/config.js';
import { GatewayWorker } from '../src/gateway/worker.js';
import { RuntimeBuilder } from '../src/gateway/build.js';
import { BUILTIN_PLUGINS, PluginRegistry, type Plugin, type PluginServices } from '../src/plugins/index.js';

interface NodeSpec {
  port: number;
  redis: string;
  config: Partial<GatewayConfig> & Record<string, unknown>;
}

class ConsumerRegistry extends PluginRegistry {
  constructor(private readonly consumers: readonly Consumer[]) {
    super(BUILTIN_PLUGINS as Plugin[]);
  }
  override init(services: PluginServices): Promise<void> {
    return super.init({ ...services, consumers: () => this.consumers });
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as NodeSpec;
  const consumers = (spec.config.consumers ?? []) as Consumer[];
  const registry = new ConsumerRegistry(consumers);
  const pc = validate(GatewayProgramConfig, { node: { name: `bench-${spec.port}`, region: 'r1' }, listen: { http: `127.0.0.1:${spec.port}` }, redis: spec.redis });
  const worker = new GatewayWorker({ config: pc, send: () => undefined, log: pino({ level: 'warn' }), registry });
  await worker.start();
  const checked = RuntimeBuilder.dryRun(spec.config, registry, 'r1');
  await worker.applyConfig(checked.config);
  process.stdout.write(`READY ${spec.port}\n`);
  process.on('SIGTERM', () => {
    void worker.stop(500).finally(() => process.exit(0));
  });
}

void main().catch((err: unknown) => {
  process.stderr.write(`plugins-node: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
