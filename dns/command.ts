import { programCommand, untilSignal } from '../src/core/command.js';
import { DnsProgramConfig } from './config.js';
import { DnsServer } from './server.js';

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
