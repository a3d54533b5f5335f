// The app's probes, rewritten to go through the proxy's :15020 (kinds/app-probes.ts): under
// STRICT mTLS the kubelet's plaintext probe of the app's own port lands on the inbound
// capture and is refused. httpGet, tcpSocket and grpc probes are rewritten (a tcpSocket
// probe would otherwise always pass, since the proxy accepts every captured connection);
// exec probes run inside the container and stay; a probe with its own `host` targets
// another machine and stays.

import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { appProbePath, PROBE_KINDS, type AppProbe, type ProbeField } from '../../kinds/app-probes.ts';
import { STATS_PORT } from './config.ts';

export type RewrittenProbes = { readonly container: V1Container; readonly probes: Record<string, AppProbe> };

/** `c` with its probes pointed at the proxy, and what the proxy must ask the app for each. */
export function rewriteProbes(c: V1Container): RewrittenProbes {
  const probes: Record<string, AppProbe> = {};
  let container = c;
  for (const field of Object.keys(PROBE_KINDS) as ProbeField[]) {
    const probe = c[field];
    if (probe === undefined) continue;
    const original = appProbe(probe, c);
    if (original === null) continue;
    const path = appProbePath(c.name, field);
    probes[path] = original;
    const { httpGet: _h, tcpSocket: _t, grpc: _g, ...timing } = probe;
    container = { ...container, [field]: { ...timing, httpGet: { path, port: STATS_PORT, scheme: 'HTTP' } } };
  }
  return { container, probes };
}

/** The probe as the proxy runs it, or null when it is not one to rewrite. */
function appProbe(p: V1Probe, c: V1Container): AppProbe | null {
  const timeoutSeconds = p.timeoutSeconds ?? 1;
  if (p.httpGet !== undefined) {
    const port = resolvePort(p.httpGet.port, c);
    if (port === null || (p.httpGet.host ?? '') !== '') return null;
    const scheme = p.httpGet.scheme === 'HTTPS' ? 'HTTPS' : 'HTTP';
    return { httpGet: { path: p.httpGet.path ?? '/', port, scheme, httpHeaders: (p.httpGet.httpHeaders ?? []).map((h) => ({ name: h.name, value: h.value })) }, timeoutSeconds };
  }
  if (p.tcpSocket !== undefined) {
    const port = resolvePort(p.tcpSocket.port, c);
    if (port === null || (p.tcpSocket.host ?? '') !== '') return null;
    return { tcpSocket: { port }, timeoutSeconds };
  }
  if (p.grpc !== undefined && Number.isInteger(p.grpc.port)) return { grpc: { port: p.grpc.port, service: p.grpc.service ?? '' }, timeoutSeconds };
  return null;
}

/** A number, a numeric string, or one of the container's named ports (IntOrString). */
function resolvePort(port: unknown, c: V1Container): number | null {
  const n = typeof port === 'number' ? port : typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : null;
  if (n !== null) return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : null;
  return c.ports?.find((p) => p.name === port)?.containerPort ?? null;
}
