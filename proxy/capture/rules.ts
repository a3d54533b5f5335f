// The iptables rules of transparent capture, as data: what `sluice-proxy capture install`
// writes, `check` looks for and `uninstall` removes. Everything lives in two chains of our
// own in the nat table, each entered by one jump, so uninstall never touches a rule it did
// not write (Istio's ISTIO_OUTPUT / ISTIO_INBOUND, fewer of them).
//
// SLUICE_OUTPUT (from nat OUTPUT, the workload's own connections), first match wins:
//   the readiness probe address -> the outbound port, for every user (the proxy's own
//     connection to it is how the proxy sees that redirection works, probe.ts);
//   the proxy's user -> RETURN (its upstream connections must leave as they are);
//   loopback (to 127.0.0.0/8, or out of lo: the pod calling itself) -> RETURN;
//   excluded destination ports and CIDRs -> RETURN;
//   everything else -> REDIRECT to the outbound port (15001).
// SLUICE_INBOUND (from nat PREROUTING, connections arriving from the network):
//   the proxy's own ports (admin, stats, both capture ports) and excluded ports -> RETURN;
//   the included ports (all by default) -> REDIRECT to the inbound port (15006).
// IPv4 only: the rules are iptables', not ip6tables'.

export type CaptureOptions = {
  /** The user the proxy runs as: its own connections are never captured. Istio's 1337 by default. */
  readonly proxyUid: number;
  /** Its group too, when given (a proxy run under another uid with this gid stays excluded). */
  readonly proxyGid: number | null;
  readonly outboundPort: number;
  readonly inboundPort: number;
  /** The proxy's admin and stats ports: a kubelet probe to :15020 reaches the proxy, not the capture. */
  readonly adminPort: number;
  readonly statsPort: number;
  readonly excludeOutboundPorts: readonly number[];
  readonly excludeInboundPorts: readonly number[];
  /** Destinations never captured, e.g. the cloud's metadata address. */
  readonly excludeCidrs: readonly string[];
  /** Inbound ports captured; null: all of them (but the excluded). */
  readonly includeInboundPorts: readonly number[] | null;
  /** Where the proxy dials to see its own capture answer (probe.ts). */
  readonly probe: { readonly address: string; readonly port: number };
};

export const OUTPUT_CHAIN = 'SLUICE_OUTPUT';
export const INBOUND_CHAIN = 'SLUICE_INBOUND';

/** A rule as iptables' arguments after `-t nat -A|-C|-D <chain>`, and a line a human reads in `check`. */
export type Rule = { readonly chain: string; readonly args: readonly string[] };

export type RuleSet = {
  /** Our chains, in the order they are made. */
  readonly chains: readonly string[];
  /** Rules in our chains, in order. */
  readonly rules: readonly Rule[];
  /** The jumps into our chains from the built-in ones. */
  readonly jumps: readonly Rule[];
};

export const DEFAULT_PROBE = { address: '127.0.0.254', port: 15002 } as const;

export function captureRules(o: CaptureOptions): RuleSet {
  const out = (...args: string[]): Rule => ({ chain: OUTPUT_CHAIN, args });
  const inb = (...args: string[]): Rule => ({ chain: INBOUND_CHAIN, args });
  const toOutbound = ['-j', 'REDIRECT', '--to-ports', String(o.outboundPort)];
  const rules: Rule[] = [
    out('-p', 'tcp', '-d', `${o.probe.address}/32`, '--dport', String(o.probe.port), ...toOutbound),
    out('-m', 'owner', '--uid-owner', String(o.proxyUid), '-j', 'RETURN'),
    ...(o.proxyGid === null ? [] : [out('-m', 'owner', '--gid-owner', String(o.proxyGid), '-j', 'RETURN')]),
    out('-d', '127.0.0.0/8', '-j', 'RETURN'),
    out('-o', 'lo', '-j', 'RETURN'),
    ...o.excludeCidrs.map((c) => out('-d', c, '-j', 'RETURN')),
    ...o.excludeOutboundPorts.map((p) => out('-p', 'tcp', '--dport', String(p), '-j', 'RETURN')),
    out('-p', 'tcp', ...toOutbound),
  ];
  const own = [...new Set([o.adminPort, o.statsPort, o.outboundPort, o.inboundPort, ...o.excludeInboundPorts])];
  rules.push(...own.map((p) => inb('-p', 'tcp', '--dport', String(p), '-j', 'RETURN')));
  const toInbound = ['-j', 'REDIRECT', '--to-ports', String(o.inboundPort)];
  if (o.includeInboundPorts === null) rules.push(inb('-p', 'tcp', ...toInbound));
  else rules.push(...o.includeInboundPorts.map((p) => inb('-p', 'tcp', '--dport', String(p), ...toInbound)));
  return {
    chains: [OUTPUT_CHAIN, INBOUND_CHAIN],
    rules,
    jumps: [
      { chain: 'OUTPUT', args: ['-p', 'tcp', '-j', OUTPUT_CHAIN] },
      { chain: 'PREROUTING', args: ['-p', 'tcp', '-j', INBOUND_CHAIN] },
    ],
  };
}

/** The rule as `iptables -t nat -A ...` would be typed, for messages. */
export function describeRule(r: Rule): string {
  return `-t nat -A ${r.chain} ${r.args.join(' ')}`;
}
