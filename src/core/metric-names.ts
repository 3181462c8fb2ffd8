/**
 * Metric names shared between the programs that export them and those that read them
 * (controller auto-rollback, Prometheus rules, Grafana). Label sets are bounded: route and
 * upstream are config ids (never request paths), code is the HTTP status.
 */
export const METRICS = {
  /** counter {route, upstream, code} */
  httpRequests: 'meridian_http_requests_total',
  /** histogram seconds {route} */
  httpDuration: 'meridian_http_request_duration_seconds',
  /** histogram seconds {upstream} */
  upstreamDuration: 'meridian_upstream_response_seconds',
  /** gauge {upstream, node, state=healthy|ejected} */
  upstreamNodes: 'meridian_upstream_nodes',
  /** gauge: central revision of the config served */
  configRevision: 'meridian_config_revision',
  /** counter {service, result=hit|miss|stale|negative} */
  discoveryLookups: 'meridian_discovery_lookups_total',
  discoveryFailovers: 'meridian_discovery_failovers_total',
  discoveryPurges: 'meridian_discovery_purges_total',
  /** histogram seconds */
  discoveryPurgeDuration: 'meridian_discovery_purge_seconds',
  /** counter {qtype, rcode, region} */
  dnsQueries: 'meridian_dns_queries_total',
  /** counter {level=node|cluster|region|fail_open} */
  dnsFailovers: 'meridian_dns_failovers_total',
  /** counter {node, result=up|down} and histogram seconds {node} */
  probeResults: 'meridian_probe_results_total',
  probeDuration: 'meridian_probe_seconds',
  /** controller: counter {result=ok|partial|failed}, histogram seconds */
  purgeFanout: 'meridian_controller_purge_total',
  purgeFanoutDuration: 'meridian_controller_purge_seconds',
  /** controller: gauge {region} revisions behind central */
  regionLag: 'meridian_controller_region_revisions_behind',
} as const;
