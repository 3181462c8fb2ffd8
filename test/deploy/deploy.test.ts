import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ControllerProgramConfig } from '../../controller/config.js';
import { readManifest } from '../../controller/ctl/manifest.js';
import { DnsProgramConfig } from '../../dns/config.js';
import { ProberProgramConfig } from '../../health/config.js';
import { mainHelp } from '../../src/cli/main.js';
import { deployConfigFiles, deployTopology, listComposeConfigDir, COMPOSE_CONFIG_DIR } from '../../src/cli/up/deploy-configs.js';
import { controllerConfig, dnsConfig, fileSeedResources, gatewayConfig, proberConfig, seedResources } from '../../src/cli/up/programs.js';
import { addressesOf, COMPOSE_NETWORK, composeAddresses, composeHosts } from '../../src/cli/up/topology.js';
import { loadConfig } from '../../src/core/config-file.js';
import { METRICS } from '../../src/core/metric-names.js';
import { RESOURCES } from '../../src/core/model/index.js';
import { consulConfig } from '../../src/core/servers/launchers.js';
import { findBinary, PROJECT_ROOT } from '../../src/core/servers/binaries.js';
import { validate } from '../../src/core/validate.js';
import { GatewayProgramConfig } from '../../src/gateway/config.js';
import { IMAGES } from '../harness/containers.js';

/**
 * The deployment files (Dockerfile, docker-compose.yml, deploy/k8s, deploy/systemd,
 * deploy/prometheus, deploy/grafana, chaos/k6) checked structurally: no Docker engine,
 * Kubernetes or k6 runs here, so what can be checked without them is — every command is a real
 * `meridian` subcommand, every config file exists and passes its program's schema, addresses
 * and ports agree across files, and every metric queried is one the code exports.
 */

const ROOT = PROJECT_ROOT;
const at = (...p: string[]) => join(ROOT, ...p);
const read = (...p: string[]) => readFileSync(at(...p), 'utf8');

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new Error(`${what}: expected a mapping, got ${JSON.stringify(v)}`);
  return v;
}
function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${what}: expected a list, got ${JSON.stringify(v)}`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Error(`${what}: expected a string, got ${JSON.stringify(v)}`);
  return v;
}
const strings = (v: unknown, what: string): string[] => arr(v, what).map((x, i) => str(x, `${what}[${i}]`));

/** The `meridian` subcommands, from the CLI's own help (built from its COMMANDS table). */
const COMMAND_NAMES = (() => {
  const help = mainHelp();
  const body = help.slice(help.indexOf('Commands:'));
  return new Set([...body.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1] ?? ''));
})();

/** The programs that take `-c FILE`, with the schema their config must pass. */
const PROGRAM_SCHEMAS: Record<string, TSchema> = {
  gateway: GatewayProgramConfig,
  controller: ControllerProgramConfig,
  dns: DnsProgramConfig,
  prober: ProberProgramConfig,
};

const tmp = mkdtempSync(join(tmpdir(), 'meridian-deploy-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** loadConfig on a file, with only the given MERIDIAN__ overrides (never the test runner's). */
function loadProgramConfig(program: string, file: string, env: Record<string, string> = {}): Obj {
  const schema = PROGRAM_SCHEMAS[program];
  if (!schema) throw new Error(`no schema for program ${program}`);
  return obj(loadConfig(schema, file, env), file);
}

/** The Consul binary the harness installs, if there is one (no Consul: that check is skipped). */
function consulBinary(): string | undefined {
  try {
    return findBinary('consul');
  } catch {
    return undefined;
  }
}

/** The program and config file of a `meridian` argument vector (`gateway -c FILE`). */
function programArgs(args: string[], where: string): { program: string; config: string | undefined } {
  const program = args[0] ?? '';
  expect(COMMAND_NAMES, `${where}: "${program}" is not a meridian subcommand`).toContain(program);
  const c = args.findIndex((a) => a === '-c' || a === '--config');
  return { program, config: c >= 0 ? args[c + 1] : undefined };
}

function hostPortOf(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** The admin listener a healthcheck or probe must ask, by program. */
function adminListen(program: string, config: Obj): string {
  switch (program) {
    case 'gateway': return str(obj(config.admin, 'admin').listen, 'admin.listen');
    case 'controller': return str(config.listen, 'listen');
    case 'dns':
    case 'prober': return str(config.admin, 'admin');
    default: throw new Error(`no admin listener known for ${program}`);
  }
}

// ---- generated files -------------------------------------------------------------------

describe('generated config files (npm run deploy:configs)', () => {
  it('the committed files are exactly what src/cli/up/programs.ts generates', () => {
    const files = deployConfigFiles(ROOT);
    for (const [rel, content] of files) {
      expect(existsSync(at(rel)), `${rel} missing: run npm run deploy:configs`).toBe(true);
      expect(read(rel), `${rel} differs from the generator: run npm run deploy:configs`).toBe(content);
    }
    const expected = [...files.keys()].filter((f) => f.startsWith(COMPOSE_CONFIG_DIR)).sort();
    expect(listComposeConfigDir(ROOT), 'stale files under deploy/compose/config').toEqual(expected);
  });

  it('`meridian up` (the loopback book, the same generator) gets configs that pass the schemas too', () => {
    const t = deployTopology(ROOT);
    const a = addressesOf(t);
    validate(ControllerProgramConfig, controllerConfig(t, a));
    t.regions.forEach((_, i) => {
      for (let n = 0; n < t.gateways_per_region; n++) validate(GatewayProgramConfig, gatewayConfig(t, i, n, a));
      validate(DnsProgramConfig, dnsConfig(t, i, a));
      validate(ProberProgramConfig, proberConfig(t, i, a));
    });
    for (const r of seedResources(t, a)) validate(RESOURCES[r.kind as keyof typeof RESOURCES].schema, r.body, r.kind);
  });

  it('package.json has the deploy:configs script that rewrites them', () => {
    const pkg = obj(JSON.parse(read('package.json')), 'package.json');
    expect(str(obj(pkg.scripts, 'scripts')['deploy:configs'], 'deploy:configs')).toContain('src/cli/up/deploy-configs');
  });

  it('the seed manifest is what `meridian ctl apply -f` reads, and passes the model schemas', () => {
    const t = deployTopology(ROOT);
    const items = readManifest(at(COMPOSE_CONFIG_DIR, 'seed.yaml'));
    expect(items.map((i) => `${i.kind}/${i.id}`).sort()).toEqual(fileSeedResources(t, composeAddresses(t)).map((r) => `${r.kind}/${r.id}`).sort());
    for (const item of items) {
      const spec = RESOURCES[item.kind];
      const value = obj(validate(spec.schema, item.spec, `${item.kind}/${item.id}`), item.id);
      expect(value[spec.key], `${item.kind}/${item.id}: id field`).toBe(item.id);
    }
  });

  it.skipIf(consulBinary() === undefined)('`consul validate` (the real Consul 1.8.7, as in the image) accepts each server config', () => {
    const t = deployTopology(ROOT);
    for (const r of t.regions) {
      const dir = mkdtempSync(join(tmp, `consul-${r.name}-`));
      writeFileSync(join(dir, 'meridian.json'), read(COMPOSE_CONFIG_DIR, `consul-${r.name}.json`));
      // What the image's entrypoint adds on the command line (-data-dir=/consul/data).
      writeFileSync(join(dir, 'entrypoint.json'), JSON.stringify({ data_dir: '/consul/data' }));
      const res = spawnSync(consulBinary() ?? 'consul', ['validate', dir], { encoding: 'utf8', timeout: 20_000 });
      expect(res.status, `${res.stdout}${res.stderr}`).toBe(0);
    }
  });

  it('each Consul server config has the settings Meridian expects and federates by WAN join', () => {
    const t = deployTopology(ROOT);
    const expected = obj(JSON.parse(consulConfig()), 'consulConfig');
    t.regions.forEach((r) => {
      const c = obj(JSON.parse(read(COMPOSE_CONFIG_DIR, `consul-${r.name}.json`)), r.name);
      expect(c.datacenter).toBe(r.name);
      expect(c.dns_config).toEqual(expected.dns_config);
      expect(strings(c.retry_join_wan, 'retry_join_wan').sort()).toEqual(t.regions.filter((x) => x.name !== r.name).map((x) => `consul-${x.name}`).sort());
    });
  });
});

// ---- Dockerfile ------------------------------------------------------------------------

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const instructions = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages = instructions.reduce<string[][]>((acc, l) => {
    if (/^FROM\s/i.test(l)) acc.push([]);
    acc[acc.length - 1]?.push(l);
    return acc;
  }, []);
  const runtime = stages[stages.length - 1] ?? [];

  it('is multi-stage: builds with npm ci + npm run build, ships dist and production node_modules', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = (stages[0] ?? []).join('\n');
    expect(build).toMatch(/npm ci/);
    expect(build).toMatch(/npm run build/);
    expect(build).toMatch(/npm prune --omit=dev/);
    expect(runtime.join('\n')).toMatch(/COPY --from=build \S+\/dist /);
    expect(runtime.join('\n')).toMatch(/COPY --from=build \S+\/node_modules /);
  });

  it('the programs import only production dependencies (the runtime stage has no others)', () => {
    const pkg = obj(JSON.parse(read('package.json')), 'package.json');
    const deps = new Set(Object.keys(obj(pkg.dependencies, 'dependencies')));
    const bad: string[] = [];
    for (const f of sourceFiles()) {
      // Type-only imports are erased at compile time (verbatimModuleSyntax): they need no package.
      const code = readFileSync(f, 'utf8').replace(/\b(?:import|export)\s+type\s[^;]*;/g, '');
      for (const m of code.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'([^'.][^']*)'/gm)) {
        const spec = m[1] ?? '';
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0] ?? spec;
        if (!deps.has(name)) bad.push(`${relative(ROOT, f)}: ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('runs as a non-root user, has a HEALTHCHECK and the meridian CLI as entrypoint', () => {
    const user = runtime.filter((l) => /^USER\s/i.test(l)).pop();
    expect(user, 'USER in the runtime stage').toBeDefined();
    expect(user).not.toMatch(/^USER\s+(root|0)(:|\s|$)/i);
    expect(runtime.some((l) => /^HEALTHCHECK\s+.*CMD/i.test(l))).toBe(true);
    const entry = runtime.find((l) => /^ENTRYPOINT\s/i.test(l)) ?? '';
    expect(entry).toContain('dist/src/cli/main.js');
    expect(existsSync(at('src', 'cli', 'main.ts'))).toBe(true);
    expect(existsSync(at('.dockerignore'))).toBe(true);
  });
});

// ---- docker-compose.yml ----------------------------------------------------------------

interface ComposeService extends Obj {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: Obj;
  networks?: Record<string, { ipv4_address?: string }>;
}

describe('docker-compose.yml', () => {
  const compose = obj(parseYaml(read('docker-compose.yml'), { merge: true }), 'docker-compose.yml');
  const services = obj(compose.services, 'services') as Record<string, ComposeService>;
  const t = deployTopology(ROOT);
  const hosts = composeHosts(t);
  const meridianImage = 'meridian:local';
  const isMeridian = (s: ComposeService) => s.image === meridianImage;
  const envOf = (s: ComposeService): Record<string, string> => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));

  /** The host file mounted at `path` in the service, if a bind mount provides it. */
  function hostFileFor(s: ComposeService, path: string): string | undefined {
    for (const v of s.volumes ?? []) {
      const [src = '', dst = ''] = v.split(':');
      if (!src.startsWith('./')) continue;
      if (dst === path) return at(src);
      if (path.startsWith(`${dst}/`)) return at(src, path.slice(dst.length + 1));
    }
    return undefined;
  }

  it('parses and holds the full two-region topology', () => {
    expect(Object.keys(services).length).toBeGreaterThan(10);
    const need = ['etcd-central', 'controller', 'prometheus', 'grafana'];
    for (const r of t.regions) {
      need.push(`consul-${r.name}`, `etcd-${r.name}`, `redis-${r.name}`, `prober-${r.name}`, `dns-${r.name}`);
      for (let n = 0; n < t.gateways_per_region; n++) need.push(`gateway-${r.name}-${n + 1}`);
      for (let n = 0; n < t.demo.instances_per_region; n++) need.push(`${t.demo.service}-${r.name}-${n + 1}`);
    }
    for (const name of need) expect(Object.keys(services), `service ${name}`).toContain(name);
  });

  it('every meridian service runs an existing subcommand with a config that passes its schema', () => {
    let programs = 0;
    for (const [name, s] of Object.entries(services)) {
      if (!isMeridian(s)) continue;
      if (s.entrypoint) {
        // The demo echo server: a compiled script of this repository.
        const script = s.entrypoint.find((a) => a.startsWith('/app/dist/')) ?? '';
        const source = script.replace(/^\/app\/dist\//, '').replace(/\.js$/, '.ts');
        expect(existsSync(at(source)), `${name}: entrypoint ${script} has no source ${source}`).toBe(true);
        continue;
      }
      const { program, config } = programArgs(s.command ?? [], name);
      if (program === 'ctl') {
        // The seed: a manifest `meridian ctl apply -f` reads (kinds known, keys present).
        const f = s.command?.[s.command.indexOf('-f') + 1] ?? '';
        const file = hostFileFor(s, f);
        expect(file && existsSync(file), `${name}: ${f} is not mounted from the repository`).toBe(true);
        expect(readManifest(file ?? '').length).toBeGreaterThan(0);
        continue;
      }
      expect(config, `${name}: -c FILE`).toBeDefined();
      const file = hostFileFor(s, config ?? '');
      expect(file, `${name}: ${config} is not mounted from the repository`).toBeDefined();
      expect(existsSync(file ?? ''), `${name}: ${file} missing`).toBe(true);
      const env = Object.fromEntries(Object.entries(envOf(s)).filter(([k]) => k.startsWith('MERIDIAN__')));
      const loaded = loadProgramConfig(program, file ?? '', env);
      // The image's HEALTHCHECK asks MERIDIAN_HEALTHCHECK_URL: it must be this program's admin listener.
      const url = new URL(envOf(s).MERIDIAN_HEALTHCHECK_URL ?? 'http://missing:0');
      expect(`${url.hostname}:${url.port}`, `${name}: healthcheck URL`).toBe(adminListen(program, loaded));
      programs++;
    }
    expect(programs).toBeGreaterThanOrEqual(4);
  });

  it('every bind-mounted file exists and every named volume is declared', () => {
    const declared = Object.keys(obj(compose.volumes ?? {}, 'volumes'));
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0] ?? '';
        if (src.startsWith('./') || src.startsWith('/')) expect(existsSync(at(src)), `${name}: ${src}`).toBe(true);
        else expect(declared, `${name}: volume ${src}`).toContain(src);
      }
    }
  });

  it('no two services publish the same host port', () => {
    const seen = new Map<string, string>();
    for (const [name, s] of Object.entries(services)) {
      for (const p of s.ports ?? []) {
        const [spec = '', proto = 'tcp'] = p.split('/');
        const parts = spec.split(':');
        const hostPort = parts.length === 3 ? parts[1] : parts.length === 2 ? parts[0] : undefined;
        const ip = parts.length === 3 ? parts[0] ?? '' : '0.0.0.0';
        expect(hostPort, `${name}: ${p} publishes no fixed host port`).toBeDefined();
        for (const [key, other] of seen) {
          const [oip, oport, oproto] = key.split('|');
          const overlap = oip === ip || oip === '0.0.0.0' || ip === '0.0.0.0';
          expect(overlap && oport === hostPort && oproto === proto, `${name} and ${other} both publish ${hostPort}/${proto}`).toBe(false);
        }
        seen.set(`${ip}|${hostPort}|${proto}`, name);
      }
    }
    expect(seen.size).toBeGreaterThan(0);
  });

  it('depends_on waits on health (or completion), and what it waits on can report it', () => {
    let healthBased = 0;
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, d] of Object.entries(s.depends_on ?? {})) {
        const target = services[dep];
        expect(target, `${name} depends on unknown ${dep}`).toBeDefined();
        expect(['service_healthy', 'service_completed_successfully'], `${name} -> ${dep}`).toContain(d.condition);
        if (d.condition === 'service_healthy') {
          healthBased++;
          // Meridian services inherit the image's HEALTHCHECK; the others define one.
          expect(isMeridian(target ?? {}) || target?.healthcheck !== undefined, `${dep} has no healthcheck`).toBe(true);
        }
      }
    }
    expect(healthBased).toBeGreaterThan(10);
  });

  it('fixed addresses are the compose address book, inside the network subnet, unique', () => {
    const ipam = arr(obj(obj(obj(compose.networks, 'networks').meridian, 'meridian').ipam, 'ipam').config, 'ipam.config');
    expect(obj(ipam[0], 'ipam.config[0]').subnet).toBe(COMPOSE_NETWORK.subnet);
    const used = new Set<string>();
    for (const [name, s] of Object.entries(services)) {
      const ip = s.networks?.meridian?.ipv4_address;
      expect(ip, `${name}: fixed address`).toBe(hosts.get(name));
      expect(used.has(ip ?? ''), `${name}: ${ip} used twice`).toBe(false);
      used.add(ip ?? '');
      expect(ip?.startsWith(`${COMPOSE_NETWORK.base}.`)).toBe(true);
    }
    for (const host of hosts.keys()) expect(Object.keys(services), `address book host ${host}`).toContain(host);
  });

  it('every host the generated configs name is a compose service or its address', () => {
    const known = new Set([...Object.keys(services), ...hosts.values(), '0.0.0.0']);
    const files = [...deployConfigFiles(ROOT).keys()].filter((f) => f.startsWith(COMPOSE_CONFIG_DIR) && !f.endsWith('.sh'));
    for (const f of files) {
      const text = read(f);
      for (const m of text.matchAll(/(?:https?|redis):\/\/([A-Za-z0-9.-]+)(?::\d+)?/g)) expect(known, `${f}: ${m[0]}`).toContain(m[1]);
      for (const m of text.matchAll(/\b(\d{1,3}(?:\.\d{1,3}){3}):\d+/g)) expect(known, `${f}: ${m[0]}`).toContain(m[1]);
    }
    const joins = t.regions.flatMap((r) => strings(obj(JSON.parse(read(COMPOSE_CONFIG_DIR, `consul-${r.name}.json`)), r.name).retry_join_wan, 'retry_join_wan'));
    for (const j of joins) expect(known).toContain(j);
  });

  it('uses the same server images as the container test backend', () => {
    const images = new Set(Object.values(services).map((s) => s.image));
    for (const image of Object.values(IMAGES)) expect(images).toContain(image);
  });

  it('echo instances listen where Consul sends traffic', () => {
    for (const r of t.regions) {
      const c = obj(JSON.parse(read(COMPOSE_CONFIG_DIR, `consul-${r.name}.json`)), r.name);
      for (const svc of arr(c.services, 'services').map((x) => obj(x, 'service'))) {
        const s = services[str(svc.id, 'id')];
        expect(s, `service ${String(svc.id)}`).toBeDefined();
        expect((s?.command ?? []).slice(0, 2)).toEqual([svc.address, String(svc.port)]);
      }
    }
  });
});

// ---- Kubernetes ------------------------------------------------------------------------

interface K8sDoc { file: string; kind: string; name: string; doc: Obj }

const K8S_DIR = at('deploy', 'k8s');
const k8sDocs: K8sDoc[] = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f)).sort().flatMap((f) => {
  const docs = parseAllDocuments(readFileSync(join(K8S_DIR, f), 'utf8'));
  return docs.map((d, i) => {
    if (d.errors.length > 0) throw new Error(`deploy/k8s/${f} document ${i}: ${d.errors[0]?.message}`);
    const doc = obj(d.toJS(), `deploy/k8s/${f}#${i}`);
    return { file: f, kind: str(doc.kind, `${f}#${i}.kind`), name: str(obj(doc.metadata, 'metadata').name, `${f}#${i}.metadata.name`), doc };
  });
});
const k8s = (kind: string, name?: string) => k8sDocs.filter((d) => d.kind === kind && (name === undefined || d.name === name));
const podSpec = (d: K8sDoc): Obj => obj(obj(obj(obj(d.doc.spec, 'spec').template, 'template').spec, 'pod spec'), 'pod spec');
const podLabels = (d: K8sDoc): Obj => obj(obj(obj(obj(d.doc.spec, 'spec').template, 'template').metadata, 'metadata').labels, 'labels');
const containers = (d: K8sDoc): Obj[] => arr(podSpec(d).containers, 'containers').map((c) => obj(c, 'container'));
const matches = (selector: Obj, labels: Obj) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** A container's env as the program sees it: $(VAR) expanded, downward API and Secrets given sample values. */
function containerEnv(c: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of arr(c.env ?? [], 'env').map((x) => obj(x, 'env'))) {
    const name = str(e.name, 'env.name');
    if (typeof e.value === 'string') {
      env[name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_m, v: string) => env[v] ?? `$(${v})`);
      continue;
    }
    const from = obj(e.valueFrom, `${name}.valueFrom`);
    if (from.fieldRef) {
      const path = str(obj(from.fieldRef, 'fieldRef').fieldPath, 'fieldPath');
      env[name] = path === 'status.podIP' || path === 'status.hostIP' ? '10.244.1.7' : 'meridian-pod-0';
    } else env[name] = 'sample-secret-value';
  }
  return env;
}

describe('deploy/k8s', () => {
  it('every document parses with apiVersion, kind and name; one region is there', () => {
    expect(k8sDocs.length).toBeGreaterThan(10);
    for (const d of k8sDocs) expect(typeof d.doc.apiVersion, `${d.file} ${d.kind}/${d.name}`).toBe('string');
    for (const name of ['meridian-gateway', 'meridian-dns', 'meridian-prober', 'meridian-controller']) {
      expect(k8s('Deployment', name), `Deployment ${name}`).toHaveLength(1);
      expect(k8s('PodDisruptionBudget', name), `PodDisruptionBudget ${name}`).toHaveLength(1);
    }
    expect(k8s('HorizontalPodAutoscaler', 'meridian-gateway')).toHaveLength(1);
    expect(k8s('Service', 'meridian-gateway')).toHaveLength(1);
    const ctl = k8s('Deployment', 'meridian-controller')[0];
    expect(Number(obj(ctl?.doc.spec, 'spec').replicas), 'controller replicas (leader election)').toBeGreaterThanOrEqual(2);
  });

  it('every meridian container runs a subcommand whose ConfigMap config passes the schema', () => {
    let checked = 0;
    for (const d of k8s('Deployment')) {
      const volumes = arr(podSpec(d).volumes ?? [], 'volumes').map((v) => obj(v, 'volume'));
      for (const c of containers(d)) {
        if (!/(^|\/)meridian:/.test(str(c.image, 'image'))) continue;
        const { program, config } = programArgs(strings(c.args, `${d.name} args`), d.name);
        expect(config, `${d.name}: -c FILE`).toBeDefined();
        const mount = arr(c.volumeMounts ?? [], 'volumeMounts').map((m) => obj(m, 'mount')).find((m) => (config ?? '').startsWith(`${str(m.mountPath, 'mountPath')}/`));
        expect(mount, `${d.name}: ${config} is on no volume`).toBeDefined();
        const volume = volumes.find((v) => v.name === mount?.name);
        const cmName = str(obj(volume?.configMap, `${d.name}: volume ${String(mount?.name)} is not a ConfigMap`).name, 'configMap.name');
        const cm = k8s('ConfigMap', cmName)[0];
        expect(cm, `ConfigMap ${cmName}`).toBeDefined();
        const key = (config ?? '').slice(str(mount?.mountPath, 'mountPath').length + 1);
        const data = str(obj(cm?.doc.data, 'data')[key], `ConfigMap ${cmName} key ${key}`);
        const file = join(tmp, `${d.name}-${key}`);
        writeFileSync(file, data);
        const env = Object.fromEntries(Object.entries(containerEnv(c)).filter(([k]) => k.startsWith('MERIDIAN__')));
        for (const [k, v] of Object.entries(env)) expect(v, `${d.name}: ${k} left unexpanded`).not.toMatch(/\$\(/);
        const loaded = loadProgramConfig(program, file, env);
        // The readiness probe asks the admin listener the program really opens.
        const probe = obj(obj(c.readinessProbe, `${d.name} readinessProbe`).httpGet, 'httpGet');
        const ports = arr(c.ports, 'ports').map((p) => obj(p, 'port'));
        const port = typeof probe.port === 'number' ? probe.port : ports.find((p) => p.name === probe.port)?.containerPort;
        expect(port, `${d.name}: readiness probe port`).toBe(hostPortOf(adminListen(program, loaded)).port);
        if (program === 'gateway') {
          // SIGKILL only after preStop + drain grace + drain timeout.
          const drain = obj(loaded.drain, 'drain');
          const preStop = strings(obj(obj(obj(c.lifecycle, 'lifecycle').preStop, 'preStop').exec, 'exec').command, 'preStop');
          const sleepS = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
          const needed = sleepS + (Number(drain.grace_ms) + Number(drain.timeout_ms)) / 1000;
          expect(Number(podSpec(d).terminationGracePeriodSeconds), 'gateway terminationGracePeriodSeconds').toBeGreaterThan(needed);
        }
        checked++;
      }
    }
    expect(checked).toBe(4);
  });

  it('Services, PDBs and the HPA select what exists; Services the configs name exist', () => {
    const deployments = k8s('Deployment');
    for (const s of k8s('Service')) {
      const spec = obj(s.doc.spec, 'spec');
      if (spec.type === 'ExternalName') {
        expect(typeof spec.externalName).toBe('string');
        continue;
      }
      const selector = obj(spec.selector, `${s.name} selector`);
      const target = deployments.find((d) => matches(selector, podLabels(d)));
      expect(target, `Service ${s.name} selects no Deployment`).toBeDefined();
      const names = target ? containers(target).flatMap((c) => arr(c.ports ?? [], 'ports').map((p) => obj(p, 'port').name)) : [];
      for (const p of arr(spec.ports, 'ports').map((x) => obj(x, 'port'))) {
        if (typeof p.targetPort === 'string') expect(names, `Service ${s.name} targetPort`).toContain(p.targetPort);
      }
    }
    for (const p of k8s('PodDisruptionBudget')) {
      const selector = obj(obj(obj(p.doc.spec, 'spec').selector, 'selector').matchLabels, 'matchLabels');
      expect(deployments.some((d) => matches(selector, podLabels(d))), `PDB ${p.name}`).toBe(true);
    }
    const hpa = k8s('HorizontalPodAutoscaler', 'meridian-gateway')[0];
    expect(obj(obj(hpa?.doc.spec, 'spec').scaleTargetRef, 'scaleTargetRef')).toMatchObject({ kind: 'Deployment', name: 'meridian-gateway' });
    // Every host a ConfigMap's URLs name is a Service of the manifests (existing ones as ExternalName).
    const services = new Set(k8s('Service').map((s) => s.name));
    for (const cm of k8s('ConfigMap')) {
      for (const v of Object.values(obj(cm.doc.data, 'data'))) {
        for (const m of str(v, 'data').matchAll(/(?:https?|redis):\/\/([A-Za-z0-9.-]+)/g)) expect(services, `${cm.name}: ${m[0]}`).toContain(m[1]);
      }
    }
  });
});

// ---- systemd ---------------------------------------------------------------------------

describe('deploy/systemd', () => {
  const dir = at('deploy', 'systemd');
  const units = readdirSync(dir).filter((f) => f.endsWith('.service'));
  const parse = (text: string) => {
    const out = new Map<string, string>();
    let section = '';
    for (const line of text.split('\n')) {
      const l = line.trim();
      if (!l || l.startsWith('#')) continue;
      const s = /^\[(.+)\]$/.exec(l);
      if (s) section = s[1] ?? '';
      else {
        const i = l.indexOf('=');
        // Environment= may repeat; the last value of anything else wins, as in systemd.
        out.set(`${section}.${l.slice(0, i)}`, l.slice(i + 1));
      }
    }
    return out;
  };

  it('a unit per program, each running an existing subcommand with a graceful SIGTERM stop', () => {
    expect(units.sort()).toEqual(['meridian-controller.service', 'meridian-dns.service', 'meridian-gateway.service', 'meridian-prober.service']);
    for (const u of units) {
      const kv = parse(readFileSync(join(dir, u), 'utf8'));
      const exec = (kv.get('Service.ExecStart') ?? '').split(/\s+/);
      const main = exec.findIndex((a) => a.endsWith('dist/src/cli/main.js'));
      expect(main, `${u}: ExecStart runs the meridian CLI`).toBeGreaterThan(0);
      const { program } = programArgs(exec.slice(main + 1), u);
      expect(u).toBe(`meridian-${program}.service`);
      expect(kv.get('Service.KillSignal')).toBe('SIGTERM');
      expect(Number(kv.get('Service.TimeoutStopSec')), `${u}: TimeoutStopSec`).toBeGreaterThan(0);
      expect(kv.get('Service.User'), `${u}: not root`).not.toMatch(/^(root|0)?$/);
    }
  });

  it('the gateway unit waits longer than the drain before SIGKILL', () => {
    const kv = parse(readFileSync(join(dir, 'meridian-gateway.service'), 'utf8'));
    const drain = obj(loadProgramConfig('gateway', at(COMPOSE_CONFIG_DIR, 'gateway-east-1.yaml')).drain, 'drain');
    expect(Number(kv.get('Service.TimeoutStopSec'))).toBeGreaterThan((Number(drain.grace_ms) + Number(drain.timeout_ms)) / 1000);
  });

  it.skipIf(!which('systemd-analyze'))('systemd-analyze verify finds nothing to say', () => {
    const res = spawnSync('systemd-analyze', ['verify', ...units.map((u) => join(dir, u))], { encoding: 'utf8', timeout: 20_000 });
    expect(`${res.stdout}${res.stderr}`.trim()).toBe('');
  });
});

// ---- Prometheus and Grafana ------------------------------------------------------------

function which(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).status === 0;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names a PromQL expression (or Grafana query) selects. */
function metricNamesIn(expr: string): string[] {
  const s = expr
    .replace(/\blabel_values\(\s*([^,)]+?)\s*,[^)]*\)/g, ' $1 ')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, '')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = s[(m.index ?? 0) - 1] ?? ' ';
    if (/[0-9.]/.test(before)) continue; // 1e3, 5m
    if (/^\s*\(/.test(s.slice((m.index ?? 0) + m[0].length))) continue; // a function
    if (PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    out.push(m[0]);
  }
  return out;
}

/** Source files of the programs: where metrics are registered. */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      // The console is bundled for the browser in the build stage: its packages never reach the runtime.
      if (e.isDirectory()) {
        if (p !== at(join('controller', 'console'))) walk(p);
      } else if (e.name.endsWith('.ts')) out.push(p);
    }
  };
  for (const d of ['src', 'dns', 'health', 'controller']) walk(at(d));
  return out.filter((f) => !f.endsWith(join('src', 'core', 'metric-names.ts')));
}

const METRIC_VALUES = new Map(Object.entries(METRICS).map(([k, v]) => [v as string, k]));
/**
 * Names the code registers: prom-client's `new Counter({ name: METRICS.x, ... })` form, and
 * metric classes taking the name first (`new LocalHistogram(METRICS.x, help, buckets)`, the
 * gateway's hot-path metrics). Histograms are those whose constructor is a *Histogram class:
 * they are exported as _bucket, _sum and _count.
 */
const registered = (() => {
  const names = new Set<string>();
  const histograms = new Set<string>();
  const metricOf = (key: string | undefined) => METRICS[key as keyof typeof METRICS] ?? `?${key ?? ''}`;
  for (const f of sourceFiles()) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/name:\s*METRICS\.(\w+)/g)) names.add(metricOf(m[1]));
    for (const m of text.matchAll(/name:\s*['"](meridian_\w+)['"]/g)) names.add(m[1] ?? '');
    for (const m of text.matchAll(/new\s+(\w+)(?:<[^>]*>)?\(\s*METRICS\.(\w+)/g)) {
      names.add(metricOf(m[2]));
      if (/Histogram$/.test(m[1] ?? '')) histograms.add(metricOf(m[2]));
    }
    for (const m of text.matchAll(/new\s+(\w*Histogram)(?:<[^>]*>)?\(\s*\{[^}]{0,300}?name:\s*METRICS\.(\w+)/g)) histograms.add(metricOf(m[2]));
  }
  return { names, histograms };
})();

/** Why a queried name is not acceptable, or undefined when it is. */
function metricProblem(name: string): string | undefined {
  const suffix = /_(bucket|sum|count)$/.exec(name);
  const base = suffix && registered.histograms.has(name.slice(0, -suffix[0].length)) ? name.slice(0, -suffix[0].length) : name;
  if (!METRIC_VALUES.has(base)) return `${name} is not in src/core/metric-names.ts`;
  if (!registered.names.has(base)) return `${name} is not registered by any program yet`;
  if (base !== name || !registered.histograms.has(base)) return undefined;
  return `${name} is a histogram: query _bucket, _sum or _count`;
}

describe('deploy/prometheus', () => {
  const rulesFile = at('deploy', 'prometheus', 'rules', 'meridian.rules.yml');
  const rules = obj(parseYaml(readFileSync(rulesFile, 'utf8')), 'rules');
  const allRules = arr(rules.groups, 'groups').flatMap((g) => arr(obj(g, 'group').rules, 'rules').map((r) => obj(r, 'rule')));

  it('the alert rules have the structure Prometheus expects', () => {
    for (const g of arr(rules.groups, 'groups').map((x) => obj(x, 'group'))) {
      expect(typeof g.name).toBe('string');
      for (const r of arr(g.rules, 'rules').map((x) => obj(x, 'rule'))) {
        expect(typeof r.alert, JSON.stringify(r)).toBe('string');
        expect(str(r.expr, `${String(r.alert)}.expr`).trim()).not.toBe('');
        if (r.for !== undefined) expect(str(r.for, 'for')).toMatch(/^\d+[smhd]$/);
        expect(obj(r.labels, `${String(r.alert)}.labels`).severity, `${String(r.alert)} severity`).toBeDefined();
        expect(Object.keys(r).every((k) => ['alert', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for'].includes(k))).toBe(true);
      }
    }
  });

  it('the Kubernetes scrape config parses and discovers pods (Debian\'s promtool is built without kubernetes_sd)', () => {
    const prom = obj(parseYaml(read('deploy', 'prometheus', 'prometheus-k8s.yml')), 'prometheus-k8s.yml');
    const jobs = arr(prom.scrape_configs, 'scrape_configs').map((j) => obj(j, 'job'));
    expect(jobs.some((j) => Array.isArray(j.kubernetes_sd_configs))).toBe(true);
    expect(strings(prom.rule_files, 'rule_files')).toEqual(strings(obj(parseYaml(read('deploy', 'prometheus', 'prometheus.yml')), 'prometheus.yml').rule_files, 'rule_files'));
  });

  it.skipIf(!which('promtool'))('promtool accepts the rules and the compose scrape config', () => {
    execFileSync('promtool', ['check', 'rules', rulesFile], { stdio: 'pipe', timeout: 20_000 });
    execFileSync('promtool', ['check', 'config', at('deploy', 'prometheus', 'prometheus.yml')], { stdio: 'pipe', timeout: 20_000 });
  });

  it('alerts cover error rate, latency, region failover, config behind and purge failures', () => {
    const exprs = allRules.map((r) => str(r.expr, 'expr'));
    const has = (re: RegExp) => exprs.some((e) => re.test(e));
    expect(has(new RegExp(`${METRICS.httpRequests}\\{code=~"5\\.\\."`)), 'error rate').toBe(true);
    expect(has(new RegExp(`histogram_quantile[\\s\\S]*${METRICS.httpDuration}_bucket`)), 'latency').toBe(true);
    expect(has(new RegExp(`${METRICS.dnsFailovers}\\{level="region"`)), 'region failover').toBe(true);
    expect(has(new RegExp(METRICS.regionLag)), 'config behind').toBe(true);
    expect(has(new RegExp(`${METRICS.purgeFanout}\\{result!="ok"`)), 'purge failures').toBe(true);
  });

  it('every metric the rules query is exported by the code', () => {
    const problems = allRules.flatMap((r) => metricNamesIn(str(r.expr, 'expr'))).map(metricProblem).filter((p) => p !== undefined);
    expect(problems).toEqual([]);
  });

  it('the compose scrape config covers every Meridian program of docker-compose.yml', () => {
    const prom = obj(parseYaml(read('deploy', 'prometheus', 'prometheus.yml')), 'prometheus.yml');
    const targets = new Set(arr(prom.scrape_configs, 'scrape_configs').flatMap((j) => arr(obj(j, 'job').static_configs ?? [], 'static_configs').flatMap((s) => strings(obj(s, 'static').targets, 'targets'))));
    const t = deployTopology(ROOT);
    const a = composeAddresses(t);
    const expected = [`${a.controller}`];
    t.regions.forEach((_, i) => {
      expected.push(`${a.dns(i)}:9153`, `${a.prober(i)}:9154`);
      for (let n = 0; n < t.gateways_per_region; n++) expected.push(`${a.gateway(i, n)}:${t.gateway_admin_port}`);
    });
    for (const e of expected) expect(targets, `scrape target ${e}`).toContain(e);
  });
});

describe('deploy/grafana', () => {
  const dash = obj(JSON.parse(read('deploy', 'grafana', 'dashboards', 'meridian.json')), 'dashboard');
  const panels = arr(dash.panels, 'panels').map((p) => obj(p, 'panel'));
  const queries = [
    ...panels.flatMap((p) => arr(p.targets ?? [], 'targets').map((q) => str(obj(q, 'target').expr, `${String(p.title)} expr`))),
    ...arr(obj(dash.templating, 'templating').list, 'templating.list').map((v) => obj(v, 'variable')).filter((v) => v.type === 'query')
      .map((v) => (isObj(v.query) ? str(v.query.query, 'query.query') : str(v.query, 'query'))),
  ];

  it('the dashboard shows traffic, latency, upstream health, DNS answers per region and failovers', () => {
    expect(typeof dash.uid).toBe('string');
    const all = queries.join('\n');
    for (const m of [METRICS.httpRequests, `${METRICS.httpDuration}_bucket`, METRICS.upstreamNodes, METRICS.dnsQueries, METRICS.dnsFailovers]) expect(all).toContain(m);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('every metric the dashboard queries is exported by the code', () => {
    const problems = queries.flatMap(metricNamesIn).map(metricProblem).filter((p) => p !== undefined);
    expect(problems).toEqual([]);
  });

  it('provisioning loads the dashboard folder docker-compose.yml mounts', () => {
    const provider = obj(arr(obj(parseYaml(read('deploy', 'grafana', 'provisioning', 'dashboards', 'meridian.yaml')), 'provider').providers, 'providers')[0], 'provider');
    expect(read('docker-compose.yml')).toContain(`./deploy/grafana/dashboards:${String(obj(provider.options, 'options').path)}:ro`);
    const ds = obj(parseYaml(read('deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yaml')), 'datasources');
    expect(arr(ds.datasources, 'datasources').map((d) => obj(d, 'ds').type)).toContain('prometheus');
  });

  it('the metric-name extraction itself finds names and skips functions, labels and keywords', () => {
    expect(metricNamesIn('histogram_quantile(0.99, sum by (le, region) (rate(a_bucket{code=~"5..", x="y"}[5m]))) > 1e3 and on (region) b offset 5m')).toEqual(['a_bucket', 'b']);
    expect(metricNamesIn('label_values(meridian_http_requests_total, region)')).toEqual(['meridian_http_requests_total']);
  });
});

// ---- k6 and the operations guide -------------------------------------------------------

describe('chaos/k6 and docs/operations.md', () => {
  it.each(['steady.js', 'region-outage.js'])('%s is valid JavaScript with thresholds on http_req_failed', (f) => {
    const file = at('chaos', 'k6', f);
    const res = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
    expect(res.status, res.stderr).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/thresholds:[\s\S]*http_req_failed/);
    expect(text).toMatch(/constant-arrival-rate/);
  });

  it('the operations guide covers what an operator needs', () => {
    const doc = read('docs', 'operations.md');
    for (const h of ['Sizing', 'Ports', 'Security', 'Upgrading', 'Adding a region', 'k6']) expect(doc, `section ${h}`).toMatch(new RegExp(`^#+ .*${h}`, 'mi'));
    expect(doc).toContain('meridian ctl deploy');
  });
});
