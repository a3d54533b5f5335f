// `sluice-proxy capture install|uninstall|check`: the capture step a pod's init container
// (or a VM's unit, as root) runs before the proxy starts. Exit 0 when done (check: when
// every rule is there), 1 when iptables failed or rules are missing, 2 for bad flags.

import { isIPv4 } from 'node:net';
import { parseArgs } from 'node:util';
import { check, install, iptablesBinary, uninstall, type Iptables } from './iptables.ts';
import { captureRules, DEFAULT_PROBE, type CaptureOptions } from './rules.ts';

export const captureUsage = `usage: sluice-proxy capture install|uninstall|check [options]

  Writes (install), removes (uninstall) or looks for (check) the iptables nat rules that send
  the workload's TCP to its proxy: outbound to --outbound-port, inbound to --inbound-port.
  Run as root (or with CAP_NET_ADMIN) in the workload's network namespace.

  --proxy-uid UID               the proxy's user, never captured (default 1337, as Istio)
  --proxy-gid GID               also never capture this group
  --outbound-port PORT          outbound capture port (default 15001)
  --inbound-port PORT           inbound capture port (default 15006)
  --admin-port PORT             the proxy's admin port, never captured (default 15000)
  --stats-port PORT             the proxy's stats/probe port, never captured (default 15020)
  --exclude-outbound-ports LIST destination ports never captured, comma-separated
  --exclude-inbound-ports LIST  inbound ports never captured (e.g. 22)
  --exclude-cidrs LIST          destination CIDRs never captured (e.g. 169.254.169.254/32)
  --include-inbound-ports LIST  capture only these inbound ports (default '*': all)
  --probe ADDR:PORT             the address the proxy dials to check its capture (default ${DEFAULT_PROBE.address}:${DEFAULT_PROBE.port})
  --iptables BIN                the iptables binary (default iptables)
`;

type Parsed = { ok: true; verb: 'install' | 'uninstall' | 'check'; options: CaptureOptions; bin: string } | { ok: false; error: string } | { ok: 'help' };

export function parseCaptureArgs(argv: readonly string[]): Parsed {
  let values, positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        'proxy-uid': { type: 'string', default: '1337' },
        'proxy-gid': { type: 'string' },
        'outbound-port': { type: 'string', default: '15001' },
        'inbound-port': { type: 'string', default: '15006' },
        'admin-port': { type: 'string', default: '15000' },
        'stats-port': { type: 'string', default: '15020' },
        'exclude-outbound-ports': { type: 'string', default: '' },
        'exclude-inbound-ports': { type: 'string', default: '' },
        'exclude-cidrs': { type: 'string', default: '' },
        'include-inbound-ports': { type: 'string', default: '*' },
        probe: { type: 'string', default: `${DEFAULT_PROBE.address}:${DEFAULT_PROBE.port}` },
        iptables: { type: 'string', default: 'iptables' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  if (values.help) return { ok: 'help' };
  const verb = positionals[0];
  if (verb !== 'install' && verb !== 'uninstall' && verb !== 'check') return { ok: false, error: `capture: expected install, uninstall or check; got ${verb === undefined ? 'nothing' : `'${verb}'`}` };
  if (positionals.length > 1) return { ok: false, error: `capture ${verb}: unexpected '${positionals[1]}'` };
  const errors: string[] = [];
  const id = (flag: string, v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n > 0xfffffffe) errors.push(`--${flag}: '${v}' is not a user or group id`);
    return n;
  };
  const port = (flag: string, v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > 65535) errors.push(`--${flag}: '${v}' is not a port (1-65535)`);
    return n;
  };
  const ports = (flag: string, v: string): number[] => list(v).map((p) => port(flag, p));
  const cidrs = list(values['exclude-cidrs']);
  for (const c of cidrs) {
    const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(c);
    if (m === null || !isIPv4(m[1]) || (m[2] !== undefined && Number(m[2]) > 32)) errors.push(`--exclude-cidrs: '${c}' is not an IPv4 address or CIDR (e.g. 10.0.0.0/8)`);
  }
  const include = values['include-inbound-ports'].trim();
  const probe = /^(.+):(\d+)$/.exec(values.probe);
  if (probe === null || !isIPv4(probe[1])) errors.push(`--probe: '${values.probe}' is not IPV4:PORT (e.g. ${DEFAULT_PROBE.address}:${DEFAULT_PROBE.port})`);
  const options: CaptureOptions = {
    proxyUid: id('proxy-uid', values['proxy-uid']),
    proxyGid: values['proxy-gid'] === undefined ? null : id('proxy-gid', values['proxy-gid']),
    outboundPort: port('outbound-port', values['outbound-port']),
    inboundPort: port('inbound-port', values['inbound-port']),
    adminPort: port('admin-port', values['admin-port']),
    statsPort: port('stats-port', values['stats-port']),
    excludeOutboundPorts: ports('exclude-outbound-ports', values['exclude-outbound-ports']),
    excludeInboundPorts: ports('exclude-inbound-ports', values['exclude-inbound-ports']),
    excludeCidrs: cidrs,
    includeInboundPorts: include === '*' ? null : ports('include-inbound-ports', include),
    probe: probe === null ? DEFAULT_PROBE : { address: probe[1], port: port('probe', probe[2]) },
  };
  if (errors.length > 0) return { ok: false, error: errors.join('\n') };
  return { ok: true, verb, options, bin: values.iptables };
}

function list(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Runs the command; returns the exit code. `run` is the iptables to use (a test may pass its own wrapper binary by --iptables). */
export function runCapture(argv: readonly string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream, run?: Iptables): number {
  const parsed = parseCaptureArgs(argv);
  if (parsed.ok === 'help') {
    out.write(captureUsage);
    return 0;
  }
  if (!parsed.ok) {
    err.write(`sluice-proxy capture: ${parsed.error}\n\n${captureUsage}`);
    return 2;
  }
  const ipt = run ?? iptablesBinary(parsed.bin);
  const set = captureRules(parsed.options);
  try {
    if (parsed.verb === 'install') {
      install(ipt, set);
      out.write(`capture installed: outbound TCP -> :${parsed.options.outboundPort}, inbound TCP -> :${parsed.options.inboundPort}, uid ${parsed.options.proxyUid} excluded\n`);
      return 0;
    }
    if (parsed.verb === 'uninstall') {
      uninstall(ipt, set);
      out.write('capture uninstalled\n');
      return 0;
    }
    const missing = check(ipt, set);
    if (missing.length === 0) {
      out.write(`capture rules complete (${set.rules.length} rules, ${set.jumps.length} jumps)\n`);
      return 0;
    }
    err.write(`capture rules incomplete:\n${missing.map((m) => `  ${m}`).join('\n')}\n`);
    return 1;
  } catch (e) {
    err.write(`sluice-proxy capture ${parsed.verb}: ${(e as Error).message}\n`);
    return 1;
  }
}
