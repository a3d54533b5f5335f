// sluice-proxy's command line, parsed strictly: an unknown or malformed flag is a startup
// error with the usage, never silently ignored.

import { parseArgs } from 'node:util';
import { resolve } from 'node:path';

export type ProxyFlags = {
  /** The static config file; '' in xDS mode. */
  readonly config: string;
  /** Set when the config comes from a control plane (--control-plane). */
  readonly xds: XdsFlags | null;
  readonly adminAddress: string;
  readonly adminPort: number;
  readonly statsAddress: string;
  readonly statsPort: number;
  readonly drainTimeoutMs: number;
  /** 'stdout', 'off', or a file path. */
  readonly accessLog: string;
  /** Threads that serve traffic (--workers): the main thread and workers - 1 worker threads. */
  readonly workers: number;
};

/** The most --workers takes: more threads than cores only adds memory and context switches. */
export const MAX_WORKERS = 64;

/** A proxy that follows a control plane (DESIGN: --control-plane ADDR, VM mode). */
export type XdsFlags = {
  /** host:port of the control plane's :15012 (xDS and the certificate service, TLS). */
  readonly controlPlane: string;
  /** The join token file `sluicectl token create` wrote; null when the identity dir already holds an SVID. */
  readonly tokenFile: string | null;
  /** In a pod: its projected service-account token file (audience sluice-cp), traded for an SVID instead of a join token. */
  readonly serviceAccountTokenFile: string | null;
  /** Where the key, SVID and bundle are kept (key 0600): a restart needs no new token. */
  readonly identityDir: string;
  /** Service port name -> the local port the app listens on, behind the inbound listener. */
  readonly apps: Readonly<Record<string, number>>;
  /** The local HTTP port apps call every Service through (Host routing). */
  readonly outboundPort: number;
  /** The zone this proxy runs in, for locality-aware balancing. */
  readonly zone: string | undefined;
  /** Transparent capture (--capture): the outbound port is then the outbound capture port. */
  readonly capture: CaptureFlags | null;
  /** --mode zone-ingress: this proxy is its zone's ingress, listening on this port (SNI passthrough); null: a workload's proxy. */
  readonly zoneIngress: { readonly port: number } | null;
};

export type CaptureFlags = {
  readonly inboundPort: number;
  /** Refuse connections to addresses the mesh does not know instead of passing them through. */
  readonly strictEgress: boolean;
  /** What `capture install --probe` redirects: dialled at start to see redirection work. */
  readonly probe: { readonly address: string; readonly port: number };
};

export const usage = `usage: sluice-proxy --config FILE [options]
       sluice-proxy --control-plane HOST:PORT [--token FILE] [options]

  --config FILE            static proxy config (YAML); SIGHUP reloads it
  --control-plane ADDR     follow a control plane instead: its xDS and certificate port (15012)
  --token FILE             the join token file (sluicectl token create --workload NAME): single use,
                           needed only at the first start; later starts reuse the identity dir
  --service-account-token FILE
                           in a pod (as injected): its projected service-account token, traded
                           for the SVID of its service account; reads POD_NAME, POD_NAMESPACE,
                           SERVICE_ACCOUNT and SLUICE_CA_BUNDLE from the environment
  --identity-dir DIR       key, certificate and bundle (default ./sluice-identity)
  --app NAME=PORT          the local port the app serves the Service port NAME on (repeatable;
                           default: the port the Workload declares)
  --outbound-port PORT     where apps call other Services, by Host (default 15001)
  --zone ZONE              the zone this proxy runs in (locality-aware balancing)
  --capture                transparent capture (after sluice-proxy capture install): the outbound port
                           takes every redirected outbound connection, routed by where it was going
  --inbound-port PORT      with --capture: where inbound connections are redirected (default 15006)
  --strict-egress          with --capture: refuse connections to addresses no Service has, instead
                           of passing them through
  --capture-probe ADDR:PORT with --capture: the address capture install redirects for the readiness
                           check (default 127.0.0.254:15002)
  --mode MODE              sidecar (default): a workload's proxy; zone-ingress: its zone's ingress,
                           which forwards other zones' mTLS connections by SNI to this zone's
                           instances, TLS untouched (it needs a Workload of its own)
  --ingress-port PORT      with --mode zone-ingress: where it listens, on every address (default 15443)
  --admin-address ADDR     admin server address (default 127.0.0.1)
  --admin-port PORT        admin server port: /ready /live /config_dump /clusters /stats (default 15000, 0 = any)
  --stats-address ADDR     Prometheus / kubelet probe address (default 0.0.0.0)
  --stats-port PORT        /stats/prometheus and /healthz/ready (default 15020, 0 = any)
  --drain-timeout DURATION how long SIGTERM waits for in-flight requests (default 5s)
  --access-log WHERE       stdout (default), off, or a file path
  --workers N              threads that serve traffic (default 1): N-1 worker threads besides the
                           main one, on the same ports (SO_REUSEPORT); /stats and /clusters add
                           them up, /workers shows each. A worker costs ~25 MiB idle: worth it
                           only with a core to spare for it (see README, "More than one worker")
  --help                   this text
  --version                the version, and exit
`;

export type FlagsResult = { ok: true; flags: ProxyFlags } | { ok: false; error: string } | { ok: 'help' } | { ok: 'version' };

export function parseFlags(argv: readonly string[]): FlagsResult {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        'admin-address': { type: 'string', default: '127.0.0.1' },
        'admin-port': { type: 'string', default: '15000' },
        'stats-address': { type: 'string', default: '0.0.0.0' },
        'stats-port': { type: 'string', default: '15020' },
        'drain-timeout': { type: 'string', default: '5s' },
        'access-log': { type: 'string', default: 'stdout' },
        workers: { type: 'string', default: '1' },
        'control-plane': { type: 'string' },
        token: { type: 'string' },
        'service-account-token': { type: 'string' },
        'identity-dir': { type: 'string', default: './sluice-identity' },
        app: { type: 'string', multiple: true, default: [] },
        'outbound-port': { type: 'string', default: '15001' },
        zone: { type: 'string' },
        capture: { type: 'boolean', default: false },
        'inbound-port': { type: 'string', default: '15006' },
        'strict-egress': { type: 'boolean', default: false },
        'capture-probe': { type: 'string', default: '127.0.0.254:15002' },
        mode: { type: 'string', default: 'sidecar' },
        'ingress-port': { type: 'string' },
        help: { type: 'boolean', default: false },
        version: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  if (values.help) return { ok: 'help' };
  if (values.version) return { ok: 'version' };
  const cp = values['control-plane'];
  if (values.config === undefined && cp === undefined) return { ok: false, error: 'one of --config FILE (static) or --control-plane HOST:PORT (xDS) is required' };
  if (values.config !== undefined && cp !== undefined) return { ok: false, error: '--config and --control-plane exclude each other: a proxy takes its config from one source' };
  let xds: XdsFlags | null = null;
  if (cp !== undefined) {
    const parsed = xdsFlags(cp, values);
    if (typeof parsed === 'string') return { ok: false, error: parsed };
    xds = parsed;
  } else {
    const stray = ['token', 'zone', 'service-account-token', 'ingress-port'].find((f) => values[f as 'token' | 'zone' | 'service-account-token' | 'ingress-port'] !== undefined) ?? ((values.app ?? []).length > 0 ? 'app' : undefined) ?? (values.capture ? 'capture' : undefined) ?? (values.mode !== 'sidecar' ? 'mode' : undefined);
    if (stray !== undefined) return { ok: false, error: `--${stray} applies with --control-plane only` };
  }
  const adminPort = port(values['admin-port'], '--admin-port');
  const statsPort = port(values['stats-port'], '--stats-port');
  const drain = parseDuration(values['drain-timeout']);
  for (const r of [adminPort, statsPort]) if (typeof r === 'string') return { ok: false, error: r };
  if (drain === null) return { ok: false, error: `--drain-timeout: '${values['drain-timeout']}' is not a duration like 5s, 500ms or 1m` };
  const workers = /^\d+$/.test(values.workers) ? Number(values.workers) : NaN;
  if (!(workers >= 1 && workers <= MAX_WORKERS)) return { ok: false, error: `--workers: '${values.workers}' is not a number of workers from 1 to ${MAX_WORKERS}` };
  return {
    ok: true,
    flags: {
      config: values.config ?? '',
      xds,
      adminAddress: values['admin-address'],
      adminPort: adminPort as number,
      statsAddress: values['stats-address'],
      statsPort: statsPort as number,
      drainTimeoutMs: drain,
      accessLog: values['access-log'],
      workers,
    },
  };
}

function xdsFlags(
  cp: string,
  values: { token?: string; 'service-account-token'?: string; 'identity-dir': string; app?: string[]; 'outbound-port': string; zone?: string; capture: boolean; 'inbound-port': string; 'strict-egress': boolean; 'capture-probe': string; mode: string; 'ingress-port'?: string },
): XdsFlags | string {
  if (values.mode !== 'sidecar' && values.mode !== 'zone-ingress') return `--mode: '${values.mode}' is not sidecar or zone-ingress`;
  let zoneIngress: { port: number } | null = null;
  if (values.mode === 'zone-ingress') {
    const p = port(values['ingress-port'] ?? '15443', '--ingress-port');
    if (typeof p === 'string') return p;
    if (p === 0) return '--ingress-port: 0 is not a port other zones can be told; give a free port (default 15443)';
    const stray = values.capture ? 'capture' : (values.app ?? []).length > 0 ? 'app' : undefined;
    if (stray !== undefined) return `--${stray} does not apply with --mode zone-ingress: an ingress serves no app of its own`;
    zoneIngress = { port: p };
  } else if (values['ingress-port'] !== undefined) return '--ingress-port applies with --mode zone-ingress only';
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(cp)) return `--control-plane: '${cp}' is not HOST:PORT (e.g. cp.mesh.internal:15012)`;
  const apps: Record<string, number> = {};
  for (const a of values.app ?? []) {
    const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)=(\d+)$/.exec(a);
    const p = m === null ? null : port(m[3], '--app');
    if (m === null || typeof p !== 'number' || p === 0) return `--app: '${a}' is not NAME=PORT (a Service port name and the app's local port, e.g. http=8080)`;
    apps[m[1]] = p;
  }
  const outbound = port(values['outbound-port'], '--outbound-port');
  if (typeof outbound === 'string') return outbound;
  // The control plane writes this port into the proxy's own outbound listener: it must be a real one.
  if (outbound === 0) return `--outbound-port: 0 is not a port the control plane can put the outbound listener on; give a free port (default 15001)`;
  // Relative paths (the default ./sluice-identity included) are the working directory's,
  // resolved once here: the identity code joins file names onto the folder, and a relative
  // folder joined again onto itself was 'sluice-identity/sluice-identity/cert.pem'.
  let capture: CaptureFlags | null = null;
  if (values.capture) {
    const inbound = port(values['inbound-port'], '--inbound-port');
    if (typeof inbound === 'string') return inbound;
    if (inbound === 0 || inbound === outbound) return `--inbound-port: ${inbound} cannot be the inbound capture port; give another port than --outbound-port (default 15006)`;
    const probe = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(values['capture-probe']);
    if (probe === null || Number(probe[2]) < 1 || Number(probe[2]) > 65535) return `--capture-probe: '${values['capture-probe']}' is not IPV4:PORT (e.g. 127.0.0.254:15002)`;
    capture = { inboundPort: inbound, strictEgress: values['strict-egress'], probe: { address: probe[1], port: Number(probe[2]) } };
  } else if (values['strict-egress']) return '--strict-egress applies with --capture only';
  if (values.token !== undefined && values['service-account-token'] !== undefined) return '--token and --service-account-token: a VM joins with a join token, a pod with its service-account token; give one';
  const saToken = values['service-account-token'] === undefined ? null : resolve(values['service-account-token']);
  return { controlPlane: cp, tokenFile: values.token === undefined ? null : resolve(values.token), serviceAccountTokenFile: saToken, identityDir: resolve(values['identity-dir']), apps, outboundPort: outbound, zone: values.zone, capture, zoneIngress };
}

function port(value: string, flag: string): number | string {
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : `${flag}: '${value}' is not a port (0-65535)`;
}

/** "5s", "250ms", "1m", "1.5s"; a bare number is seconds. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (m === null) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}
