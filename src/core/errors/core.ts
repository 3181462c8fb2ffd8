import { defineErrors } from './catalogue.js';

export const CORE_ERRORS = defineErrors('CONFIG', {
  MERIDIAN_ERR_CONFIG_INVALID: { message: 'config error: {field}: {reason}', status: 400 },
  MERIDIAN_ERR_CONFIG_FILE: { message: 'config error: cannot read {file}: {reason}', status: 500 },
  MERIDIAN_ERR_CONFIG_YAML: { message: 'config error: {file}: invalid YAML: {reason}', status: 400 },
  MERIDIAN_ERR_CONFIG_ENV: { message: 'config error: environment {name}: {reason}', status: 400 },
});

export const STORE_ERRORS = defineErrors('STORE', {
  MERIDIAN_ERR_STORE_UNAVAILABLE: { message: 'etcd unavailable: {reason}', status: 503 },
  MERIDIAN_ERR_STORE_CONFLICT: { message: 'revision conflict on {key}: expected {expected}, found {actual}', status: 409 },
  MERIDIAN_ERR_STORE_DECODE: { message: 'cannot decode value of {key}: {reason}', status: 500 },
});

export const CONSUL_ERRORS = defineErrors('CONSUL', {
  MERIDIAN_ERR_CONSUL_UNAVAILABLE: { message: 'consul unavailable at {address}: {reason}', status: 503 },
  MERIDIAN_ERR_CONSUL_REQUEST: { message: 'consul {operation} failed: {reason}', status: 502 },
});

export const CLI_ERRORS = defineErrors('CLI', {
  MERIDIAN_ERR_CLI_USAGE: { message: '{reason} (see meridian {command} --help)', status: 400 },
  MERIDIAN_ERR_CLI_SETUP: { message: 'setting up servers failed: {reason}', status: 500 },
  MERIDIAN_ERR_CLI_UP_DATA: { message: 'the local cluster data in {dir} was made with another topology ({reason}); start with --fresh to discard it', status: 409 },
  MERIDIAN_ERR_CLI_UP_RUNNING: { message: 'a local cluster is already up in {dir} (meridian up, pid {pid}); stop it first (Ctrl-C there, or meridian down)', status: 409 },
});

export const HARNESS_ERRORS = defineErrors('HARNESS', {
  MERIDIAN_ERR_HARNESS_BINARY: { message: '{name} binary not found: run scripts/setup-servers.sh ({reason})', status: 500 },
  MERIDIAN_ERR_HARNESS_START: { message: '{name} did not become ready within {ms} ms: {reason}', status: 500 },
});
