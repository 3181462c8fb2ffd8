import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { GatewayConfig, RESOURCES } from '../src/core/model/index.js';
import { PROJECT_ROOT } from '../src/core/servers/binaries.js';
import { GatewayProgramConfig } from '../src/gateway/config.js';
import { ControllerProgramConfig } from '../controller/config.js';
import { DnsProgramConfig } from '../dns/config.js';
import { ProberProgramConfig } from '../health/config.js';
import { LocalTopology } from '../src/cli/up/topology.js';

/** Schema node, as much of JSON Schema as the docs need. */
interface Node {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, Node>;
  required?: string[];
  items?: Node;
  anyOf?: Node[];
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  patternProperties?: Record<string, Node>;
  additionalProperties?: boolean | Node;
}

function typeOf(n: Node): string {
  if (n.const !== undefined) return JSON.stringify(n.const);
  if (n.anyOf) return n.anyOf.map(typeOf).join(' \\| ');
  if (n.type === 'array') return `${n.items ? typeOf(n.items) : 'any'}[]`;
  if (n.type === 'object' && n.patternProperties) return 'map';
  if (typeof n.type === 'string') return n.type;
  return 'any';
}

/** `depth`: how many levels of nested fields to list (the resources of a data-plane config have their own sections). */
function rows(n: Node, prefix: string, out: string[], depth = Infinity): void {
  const required = new Set(n.required ?? []);
  for (const [key, child] of Object.entries(n.properties ?? {})) {
    const field = prefix ? `${prefix}.${key}` : key;
    const range = [child.minimum !== undefined ? `>= ${child.minimum}` : '', child.maximum !== undefined ? `<= ${child.maximum}` : ''].filter(Boolean).join(', ');
    const def = child.default === undefined ? (required.has(key) ? '**required**' : '') : `\`${JSON.stringify(child.default)}\``;
    const desc = (child.description ?? '').replace(/\|/g, '\\|');
    out.push(`| \`${field}\` | ${typeOf(child)}${range ? ` (${range})` : ''} | ${def} | ${desc} |`);
    const inner = child.type === 'array' ? child.items : child;
    if (inner?.properties && depth > 1) rows(inner, child.type === 'array' ? `${field}[]` : field, out, depth - 1);
  }
}

function section(title: string, schema: TSchema, intro: string, depth = Infinity): string {
  const out: string[] = [`## ${title}`, '', intro, '', '| field | type | default | meaning |', '|---|---|---|---|'];
  rows(schema as unknown as Node, '', out, depth);
  return out.join('\n');
}

/** docs/config.md, generated from the schemas the programs validate with (never edited by hand). */
export function renderConfigDocs(): string {
  const parts = [
    '# Configuration reference',
    [
      'Generated from the schemas by `npm run docs:config`; a test fails when it is out of date.',
      'Every program reads a YAML file (`-c FILE`) plus environment overrides',
      '(`MERIDIAN__SECTION__KEY=value`, JSON values parsed). Unknown keys are rejected; a bad config',
      'exits with code 2 and one line naming the field and the reason.',
    ].join('\n'),
    section('meridian gateway', GatewayProgramConfig, 'A regional data-plane node.'),
    section('meridian controller', ControllerProgramConfig, 'The central control plane.'),
    section('meridian dns', DnsProgramConfig, 'The authoritative DNS server.'),
    section('meridian prober', ProberProgramConfig, 'A health prober.'),
    section('meridian up (deploy/local.yaml)', LocalTopology, 'The local cluster.'),
    section('data-plane config (gateway `config.file`)', GatewayConfig, 'What a gateway serves: the file of standalone mode, and what the controller writes under `config/` in a regional etcd. Each list holds resources of the sections below.', 1),
    '# Resources (controller API, etcd)',
    ...Object.entries(RESOURCES).map(([kind, r]) => section(`${kind} (key: ${r.key})`, r.schema, `\`/v1/${kind}/<${r.key}>\` on the controller; \`${kind}/<${r.key}>\` in central etcd.`)),
  ];
  return `${parts.join('\n\n')}\n`;
}

if (/config-docs\.(ts|js)$/.test(process.argv[1] ?? '')) {
  writeFileSync(join(PROJECT_ROOT, 'docs', 'config.md'), renderConfigDocs());
  process.stdout.write('wrote docs/config.md\n');
}
