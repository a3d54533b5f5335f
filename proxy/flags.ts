// sluice-proxy's command line, parsed strictly: an unknown or malformed flag is a startup
// error with the usage, never silently ignored.

import { parseArgs } from 'node:util';

export type ProxyFlags = {
  readonly config: string;
  readonly adminAddress: string;
  readonly adminPort: number;
  readonly statsAddress: string;
  readonly statsPort: number;
  readonly drainTimeoutMs: number;
  /** 'stdout', 'off', or a file path. */
  readonly accessLog: string;
};

export const usage = `usage: sluice-proxy --config FILE [options]

  --config FILE            static proxy config (YAML); SIGHUP reloads it
  --admin-address ADDR     admin server address (default 127.0.0.1)
  --admin-port PORT        admin server port: /ready /live /config_dump /clusters /stats (default 15000, 0 = any)
  --stats-address ADDR     Prometheus / kubelet probe address (default 0.0.0.0)
  --stats-port PORT        /stats/prometheus and /healthz/ready (default 15020, 0 = any)
  --drain-timeout DURATION how long SIGTERM waits for in-flight requests (default 5s)
  --access-log WHERE       stdout (default), off, or a file path
  --help                   this text
`;

export type FlagsResult = { ok: true; flags: ProxyFlags } | { ok: false; error: string } | { ok: 'help' };

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
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  if (values.help) return { ok: 'help' };
  if (values.config === undefined) return { ok: false, error: '--config FILE is required (the xDS mode lands with the control plane)' };
  const adminPort = port(values['admin-port'], '--admin-port');
  const statsPort = port(values['stats-port'], '--stats-port');
  const drain = parseDuration(values['drain-timeout']);
  for (const r of [adminPort, statsPort]) if (typeof r === 'string') return { ok: false, error: r };
  if (drain === null) return { ok: false, error: `--drain-timeout: '${values['drain-timeout']}' is not a duration like 5s, 500ms or 1m` };
  return {
    ok: true,
    flags: {
      config: values.config,
      adminAddress: values['admin-address'],
      adminPort: adminPort as number,
      statsAddress: values['stats-address'],
      statsPort: statsPort as number,
      drainTimeoutMs: drain,
      accessLog: values['access-log'],
    },
  };
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
