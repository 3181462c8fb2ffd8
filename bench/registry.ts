import type { Benchmark } from './lib/types.js';
import { storeBench } from './store.bench.js';
import { gatewayBench } from './gateway.bench.js';
import { dnsBench } from './dns.bench.js';
import { controllerBench } from './controller.bench.js';
import { pluginsBench } from './plugins.bench.js';
import { discoveryBench } from './discovery.bench.js';

/** Every benchmark `npm run bench` knows, in the order they run. Add yours here. */
export const BENCHMARKS: Benchmark[] = [storeBench, dnsBench, controllerBench, pluginsBench, gatewayBench, discoveryBench];
