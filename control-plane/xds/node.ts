// Who is on an ADS stream: the Node of its first request, read into a NodeContext
// (xds/SUBSET.md, "Nodes"). A Sluice proxy says so in its metadata; anything else is a
// generic client (a proxyless gRPC client, an Envoy) and gets the per-Service listeners.

import type { NodeContext } from './generate/resources.ts';

/** google.protobuf.Struct as @grpc/proto-loader hands it over: camelCase even under keepCase (protobufjs's own definition); oneofs: true adds `kind`. */
type StructValue = {
  kind?: string;
  nullValue?: unknown;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: { fields?: Record<string, StructValue> };
  listValue?: { values?: StructValue[] };
};

export type NodeInfo = {
  id?: string;
  cluster?: string;
  metadata?: { fields?: Record<string, StructValue> } | null;
  locality?: { region?: string; zone?: string; sub_zone?: string } | null;
  user_agent_name?: string;
  user_agent_version?: string;
};

export const PROXY_KEY = 'sluice.dev/proxy';
export const OUTBOUND_PORT_KEY = 'sluice.dev/outbound-port';
export const APP_PORTS_KEY = 'sluice.dev/app-ports';
/** host:port of the proxy's admin server, which `sluicectl proxy-config` reads. */
export const ADMIN_KEY = 'sluice.dev/admin';
export const DEFAULT_OUTBOUND_PORT = 15001;
/**
 * Set by a proxy in transparent capture: `{ inboundPort, strictEgress }`. Its outbound
 * port is then the capture port (virtualOutbound), and its inbound listeners are not bound.
 */
export const CAPTURE_KEY = 'sluice.dev/capture';
/**
 * `zone-ingress` (sluice-proxy --mode zone-ingress): the proxy is its zone's ingress and gets
 * only the SNI passthrough listener on INGRESS_PORT_KEY's port (generate/zone-ingress.ts).
 */
export const MODE_KEY = 'sluice.dev/mode';
export const ZONE_INGRESS = 'zone-ingress';
export const INGRESS_PORT_KEY = 'sluice.dev/ingress-port';
export const DEFAULT_INGRESS_PORT = 15443;
/** Istio's key for the namespace a client runs in (its gRPC bootstrap sets it): a proxyless client that sends it gets its namespace's consumer routes. */
export const NAMESPACE_KEY = 'NAMESPACE';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function structToJs(v: StructValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (v.structValue !== undefined) return Object.fromEntries(Object.entries(v.structValue.fields ?? {}).map(([k, x]) => [k, structToJs(x)]));
  if (v.listValue !== undefined) return (v.listValue.values ?? []).map(structToJs);
  return v.stringValue ?? v.numberValue ?? v.boolValue ?? null;
}

export function metadataOf(node: NodeInfo): Record<string, unknown> {
  return Object.fromEntries(Object.entries(node.metadata?.fields ?? {}).map(([k, v]) => [k, structToJs(v)]));
}

/** The node's context, or why its metadata cannot be used (the stream is refused with it). */
export function nodeContextOf(node: NodeInfo): NodeContext | string {
  const id = node.id ?? '';
  const meta = metadataOf(node);
  const rawZone = node.locality?.zone;
  // Where the node runs: its zone's endpoints are its failover level 0 (generate/resources.ts, loadAssignments).
  const zone = typeof rawZone === 'string' && rawZone !== '' ? { zone: rawZone } : {};
  if (meta[PROXY_KEY] !== 'sluice-proxy') {
    const namespace = meta[NAMESPACE_KEY];
    if (namespace === undefined) return { kind: 'generic', id, ...zone };
    if (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL.test(namespace)) return `node.metadata['${NAMESPACE_KEY}'] must be a namespace name (a DNS label); got ${JSON.stringify(namespace)}`;
    return { kind: 'generic', id, namespace, ...zone };
  }
  const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(id);
  if (m === null) return `node.id '${id}' is not <workload>.<namespace>, which a Sluice proxy must send`;
  const outbound = meta[OUTBOUND_PORT_KEY] ?? DEFAULT_OUTBOUND_PORT;
  if (!isPort(outbound)) return `node.metadata['${OUTBOUND_PORT_KEY}'] must be a port number; got ${JSON.stringify(outbound)}`;
  const rawApps = meta[APP_PORTS_KEY] ?? {};
  if (typeof rawApps !== 'object' || rawApps === null || Array.isArray(rawApps)) return `node.metadata['${APP_PORTS_KEY}'] must map port names to ports`;
  const appPorts: Record<string, number> = {};
  for (const [name, port] of Object.entries(rawApps)) {
    if (!isPort(port)) return `node.metadata['${APP_PORTS_KEY}'].${name} must be a port number; got ${JSON.stringify(port)}`;
    appPorts[name] = port;
  }
  // Only read to keep spec.outbound's listeners off it: an admin address that names no port is no error.
  const adminPort = Number(/:(\d+)$/.exec(String(meta[ADMIN_KEY] ?? ''))?.[1]);
  const rawCapture = meta[CAPTURE_KEY];
  let capture: { inboundPort: number; strictEgress: boolean } | undefined;
  if (rawCapture !== undefined && rawCapture !== null) {
    const c = rawCapture as Record<string, unknown>;
    if (typeof rawCapture !== 'object' || Array.isArray(rawCapture)) return `node.metadata['${CAPTURE_KEY}'] must be { inboundPort, strictEgress }; got ${JSON.stringify(rawCapture)}`;
    if (!isPort(c.inboundPort)) return `node.metadata['${CAPTURE_KEY}'].inboundPort must be a port number; got ${JSON.stringify(c.inboundPort)}`;
    if (c.strictEgress !== undefined && typeof c.strictEgress !== 'boolean') return `node.metadata['${CAPTURE_KEY}'].strictEgress must be true or false; got ${JSON.stringify(c.strictEgress)}`;
    capture = { inboundPort: c.inboundPort, strictEgress: c.strictEgress === true };
  }
  const mode = meta[MODE_KEY];
  if (mode !== undefined && mode !== null && mode !== ZONE_INGRESS) return `node.metadata['${MODE_KEY}'] must be '${ZONE_INGRESS}' or unset; got ${JSON.stringify(mode)}`;
  let ingress: { port: number } | undefined;
  if (mode === ZONE_INGRESS) {
    const port = meta[INGRESS_PORT_KEY] ?? DEFAULT_INGRESS_PORT;
    if (!isPort(port)) return `node.metadata['${INGRESS_PORT_KEY}'] must be a port number; got ${JSON.stringify(port)}`;
    if (capture !== undefined) return `node.metadata['${CAPTURE_KEY}'] and '${MODE_KEY}: ${ZONE_INGRESS}': a zone ingress captures nothing`;
    ingress = { port };
  }
  // The workload name may hold dots; the namespace (a DNS label) cannot, so the last dot splits them.
  const dot = id.lastIndexOf('.');
  return { kind: 'proxy', id, workload: id.slice(0, dot), namespace: id.slice(dot + 1), outboundPort: outbound, appPorts, ...(isPort(adminPort) ? { adminPort } : {}), ...(capture === undefined ? {} : { capture }), ...(ingress === undefined ? {} : { ingress }), ...zone };
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}
