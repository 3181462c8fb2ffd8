import { programCommand } from '../src/cli/command.js';
import { DnsProgramConfig } from './config.js';
import { DnsServer } from './server.js';

/** Resolves on the first SIGTERM/SIGINT. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export const dnsCommand = programCommand({
  name: 'dns',
  summary: 'authoritative DNS for the gateway zone: nearest healthy region, failover',
  schema: DnsProgramConfig,
  helpExtra: '\nServes the zone over UDP and TCP on `listen`; /metrics, /healthz and /status on `admin`.\nSee dns/README.md.\n',
  start: async (config) => {
    const server = new DnsServer(config);
    await server.start();
    const sig = await untilSignal();
    server.log.info({ signal: sig }, 'stopping');
    await server.stop();
    return 0;
  },
});
