import { programCommand, untilSignal } from '../src/core/command.js';
import { ProberProgramConfig } from './config.js';
import { Prober } from './prober.js';

export const proberCommand = programCommand({
  name: 'prober',
  summary: 'probes every gateway node of its region, writes observations to etcd',
  schema: ProberProgramConfig,
  helpExtra: '\nProbes admin /healthz (HTTP) and the public port (TCP) of each node in regions/<name>;\n/metrics, /healthz and /status on `admin`. See health/README.md.\n',
  start: async (config) => {
    const prober = new Prober(config);
    await prober.start();
    const sig = await untilSignal();
    prober.log.info({ signal: sig }, 'stopping');
    await prober.stop();
    return 0;
  },
});
