// The app probes an injected pod's proxy answers for the kubelet: what the injector
// (control-plane/inject/) writes into the proxy container's env, and what the proxy's
// :15020 (proxy/admin/app-probes.ts) reads back. Istio's KUBE_APP_PROBERS pattern: under
// STRICT mTLS the kubelet's plaintext probe cannot reach the app's port, so the probe is
// rewritten to `/app-health/<container>/<livez|readyz|startupz>` on the proxy, which asks the
// app on 127.0.0.1 and answers with its verdict.

/** The env var on the proxy container holding the JSON map path -> AppProbe. */
export const APP_PROBES_ENV = 'SLUICE_APP_PROBES';
export const APP_HEALTH_PREFIX = '/app-health/';

/** Which of a container's probes, and the path segment naming it. */
export const PROBE_KINDS = { livenessProbe: 'livez', readinessProbe: 'readyz', startupProbe: 'startupz' } as const;
export type ProbeField = keyof typeof PROBE_KINDS;

export function appProbePath(container: string, field: ProbeField): string {
  return `${APP_HEALTH_PREFIX}${container}/${PROBE_KINDS[field]}`;
}

/** One original probe, with a numeric port (named ports are resolved by the injector). */
export type AppProbe =
  | { readonly httpGet: { readonly path: string; readonly port: number; readonly scheme: 'HTTP' | 'HTTPS'; readonly httpHeaders: readonly { readonly name: string; readonly value: string }[] }; readonly timeoutSeconds: number }
  | { readonly tcpSocket: { readonly port: number }; readonly timeoutSeconds: number }
  | { readonly grpc: { readonly port: number; readonly service: string }; readonly timeoutSeconds: number };

export type AppProbes = ReadonlyMap<string, AppProbe>;

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Reads the env var's JSON; every problem is named with its path. */
export function parseAppProbes(text: string): Parsed<AppProbes> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `${APP_PROBES_ENV}: not JSON (${(err as Error).message})` };
  }
  if (!isObject(raw)) return { ok: false, error: `${APP_PROBES_ENV}: must be a JSON object of path -> probe` };
  const probes = new Map<string, AppProbe>();
  const errors: string[] = [];
  for (const [path, p] of Object.entries(raw)) {
    const at = `${APP_PROBES_ENV}["${path}"]`;
    if (!/^\/app-health\/[^/]+\/(livez|readyz|startupz)$/.test(path)) errors.push(`${at}: the path must be /app-health/<container>/<livez|readyz|startupz>`);
    const probe = readProbe(p, at, errors);
    if (probe !== null) probes.set(path, probe);
  }
  return errors.length > 0 ? { ok: false, error: errors.join('; ') } : { ok: true, value: probes };
}

function readProbe(p: unknown, at: string, errors: string[]): AppProbe | null {
  if (!isObject(p)) return (errors.push(`${at}: must be an object`), null);
  const timeoutSeconds = p.timeoutSeconds ?? 1;
  if (typeof timeoutSeconds !== 'number' || !(timeoutSeconds > 0)) errors.push(`${at}.timeoutSeconds: must be a number above 0`);
  const kinds = ['httpGet', 'tcpSocket', 'grpc'].filter((k) => p[k] !== undefined);
  if (kinds.length !== 1) return (errors.push(`${at}: needs exactly one of httpGet, tcpSocket, grpc`), null);
  const body = p[kinds[0]];
  if (!isObject(body)) return (errors.push(`${at}.${kinds[0]}: must be an object`), null);
  const port = body.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) errors.push(`${at}.${kinds[0]}.port: must be a port number (1-65535)`);
  const t = timeoutSeconds as number;
  if (kinds[0] === 'tcpSocket') return { tcpSocket: { port: port as number }, timeoutSeconds: t };
  if (kinds[0] === 'grpc') {
    if (body.service !== undefined && typeof body.service !== 'string') errors.push(`${at}.grpc.service: must be a string`);
    return { grpc: { port: port as number, service: typeof body.service === 'string' ? body.service : '' }, timeoutSeconds: t };
  }
  const path = body.path ?? '/';
  if (typeof path !== 'string' || !path.startsWith('/')) errors.push(`${at}.httpGet.path: must start with /`);
  const scheme = body.scheme ?? 'HTTP';
  if (scheme !== 'HTTP' && scheme !== 'HTTPS') errors.push(`${at}.httpGet.scheme: must be HTTP or HTTPS`);
  const headers = body.httpHeaders ?? [];
  const ok = Array.isArray(headers) && headers.every((h) => isObject(h) && typeof h.name === 'string' && typeof h.value === 'string');
  if (!ok) errors.push(`${at}.httpGet.httpHeaders: must be a list of { name, value } strings`);
  return { httpGet: { path: path as string, port: port as number, scheme: scheme as 'HTTP' | 'HTTPS', httpHeaders: ok ? (headers as { name: string; value: string }[]) : [] }, timeoutSeconds: t };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
