// sluice-cp's flags, parsed strictly: an unknown or malformed flag stops startup with
// the reason, before anything is opened.

import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DURATION_PATTERN, parseDuration } from '../kinds/schema-kit.ts';

export type CpFlags = {
  readonly store: string;
  /** With --store kubernetes: the kubeconfig file; absent, the in-cluster service account. */
  readonly kubeconfig?: string;
  readonly dataDir: string;
  readonly apiHost: string;
  readonly apiPort: number;
  readonly trustDomain: string;
  /** --trust-domain was given: a data folder whose CA is for another is an error, not ignored. */
  readonly trustDomainGiven: boolean;
  /** The CA's files (root.pem, ca.pem, ca-key.pem, bundle.pem); default DATADIR/ca. */
  readonly caDir: string;
  /** xDS and the certificate service over TLS (DESIGN: 15012). */
  readonly xds: { readonly host: string; readonly port: number };
  /** xDS in plaintext for proxyless clients and local tools (15010, as Istio's); null: off. */
  readonly xdsPlaintext: { readonly host: string; readonly port: number } | null;
  /** The sidecar-injection webhook (DESIGN: 15017); null: off (the default outside Kubernetes). */
  readonly webhook: { readonly host: string; readonly port: number } | null;
  /** The control plane's Service: the webhook certificate's names, the address injected proxies dial, a namespace never injected. */
  readonly webhookService: { readonly name: string; readonly namespace: string };
  /** The proxy image injected into pods; null: ghcr.io/sluice-mesh/sluice-proxy:<this version>. */
  readonly injectImage: string | null;
  /** native: the proxy as a native sidecar (Kubernetes >= 1.29); container: the fallback for older clusters. */
  readonly injectSidecarMode: 'native' | 'container';
  /** standalone (one site, as before zones), global (mesh-wide config, zones link to it) or zone (one site, linked to a global). */
  readonly role: 'standalone' | 'global' | 'zone';
  /** With --role zone: the zone's name, where the global is, the token file of its first contact, its ingress address. */
  readonly zone?: { readonly name: string; readonly global: string; readonly tokenFile: string | null; readonly ingress: { readonly address: string; readonly port: number } | null };
  /** With --role global: how long a zone's intermediate CA lives (the zone renews it over its link after two thirds). */
  readonly zoneCaTtlMs?: number;
};

export const USAGE = `usage: sluice-cp [flags]

  --store file:DIR|kubernetes
                          where resources are kept (default file:./sluice-data); kubernetes:
                          the cluster's API (CRDs, Services, Gateway API routes; pods from
                          EndpointSlices), needs --data-dir
  --kubeconfig FILE       with --store kubernetes: the cluster and credentials (default: the
                          pod's service account, in-cluster)
  --data-dir DIR          the admin token and the CA (default: the file store's DIR)
  --api-addr HOST:PORT    the HTTP API (default 127.0.0.1:15014); plain HTTP on loopback,
                          HTTPS with the control plane's own certificate on any other address
  --trust-domain TD       the trust domain of the CA made at first start (default cluster.local)
  --ca-dir DIR            the CA's files: root.pem, ca.pem, ca-key.pem (0600), bundle.pem; made at
                          first start when absent, or written there by the operator (default DATADIR/ca)
  --xds-addr HOST:PORT    xDS and the certificate service, gRPC over TLS (default 0.0.0.0:15012)
  --xds-plaintext-addr HOST:PORT|off
                          xDS in plaintext for proxyless gRPC clients and local tools; loopback
                          only unless you mean it (default 127.0.0.1:15010)
  --webhook-addr HOST:PORT|off
                          the sidecar-injection webhook, HTTPS, POST /inject (default 0.0.0.0:15017
                          with --store kubernetes, off otherwise)
  --webhook-service NAME.NAMESPACE
                          the control plane's Service: the webhook certificate's DNS names, the
                          address injected proxies dial (NAME.NAMESPACE.svc:15012), and a namespace
                          never injected (default sluice-cp.sluice-system)
  --inject-image IMAGE    the proxy image injected into pods (default
                          ghcr.io/sluice-mesh/sluice-proxy:VERSION)
  --inject-sidecar-mode native|container
                          native: the proxy as a native sidecar, Kubernetes >= 1.29 (default);
                          container: a regular first container that holds the app until the proxy
                          is ready, for older clusters (a pod's sluice.dev/sidecar-mode overrides)
  --role standalone|global|zone
                          standalone: one control plane for one site (default); global: holds the
                          mesh-wide config (Mesh, routes, policies) and signs the zones'
                          intermediate CAs, no proxies join it; zone: runs one site (its Workloads,
                          Services and proxies) and gets the mesh-wide config from --global
  --zone NAME             with --role zone: the zone's name (a DNS label); a Workload with no
                          spec.zone is in it
  --global HOST:PORT      with --role zone: the global control plane's xDS address (its :15012);
                          the only connection a zone opens to another site, outbound
  --zone-token FILE       with --role zone, first start: the file sluicectl zone token create wrote
                          on the global (the token, and the global's roots to check it by); after,
                          the zone's intermediate CA in --ca-dir proves the zone
  --ingress-address HOST:PORT
                          with --role zone: where other zones reach this zone's instances (its zone
                          ingress, sluice-proxy --mode zone-ingress, 15443); told to the global
  --zone-ca-ttl DURATION  with --role global: how long the zones' intermediate CAs live (default
                          8760h, a year; at least 1m); a zone renews its own over its link when
                          a third of its life is left
  --help, --version
`;

export class FlagError extends Error {}

export function parseFlags(argv: readonly string[]): CpFlags | 'help' | 'version' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        store: { type: 'string' },
        kubeconfig: { type: 'string' },
        'data-dir': { type: 'string' },
        'api-addr': { type: 'string' },
        'trust-domain': { type: 'string' },
        'ca-dir': { type: 'string' },
        'xds-addr': { type: 'string' },
        'xds-plaintext-addr': { type: 'string' },
        'webhook-addr': { type: 'string' },
        'webhook-service': { type: 'string' },
        'inject-image': { type: 'string' },
        'inject-sidecar-mode': { type: 'string' },
        role: { type: 'string' },
        zone: { type: 'string' },
        global: { type: 'string' },
        'zone-token': { type: 'string' },
        'ingress-address': { type: 'string' },
        'zone-ca-ttl': { type: 'string' },
        help: { type: 'boolean' },
        version: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new FlagError((err as Error).message);
  }
  if (values.help === true) return 'help';
  if (values.version === true) return 'version';
  const store = String(values.store ?? 'file:./sluice-data');
  const fileDir = store.startsWith('file:') ? store.slice('file:'.length) : undefined;
  if (fileDir === '') throw new FlagError('--store file: needs a directory, e.g. file:./sluice-data');
  const kubeconfig = values.kubeconfig as string | undefined;
  if (kubeconfig !== undefined && store !== 'kubernetes') throw new FlagError(`--kubeconfig is only for --store kubernetes (the store is ${store})`);
  const dataDir = (values['data-dir'] as string | undefined) ?? fileDir;
  if (dataDir === undefined) throw new FlagError(`--data-dir is required with --store ${store} (it holds the admin token and the CA)`);
  const { host, port } = parseAddr('--api-addr', String(values['api-addr'] ?? '127.0.0.1:15014'), 15014);
  const plaintext = String(values['xds-plaintext-addr'] ?? '127.0.0.1:15010');
  const webhook = String(values['webhook-addr'] ?? (store.startsWith('kubernetes') ? '0.0.0.0:15017' : 'off'));
  const service = String(values['webhook-service'] ?? 'sluice-cp.sluice-system');
  const dns = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
  const [svcName, svcNamespace, ...rest] = service.split('.');
  if (rest.length > 0 || svcNamespace === undefined || !dns.test(svcName) || !dns.test(svcNamespace)) {
    throw new FlagError(`--webhook-service must be NAME.NAMESPACE, each a DNS label (e.g. sluice-cp.sluice-system); got '${service}'`);
  }
  const mode = String(values['inject-sidecar-mode'] ?? 'native');
  if (mode !== 'native' && mode !== 'container') throw new FlagError(`--inject-sidecar-mode must be native (Kubernetes >= 1.29) or container (older clusters); got '${mode}'`);
  const image = values['inject-image'] as string | undefined;
  if (image !== undefined && !/^[^\s]+$/.test(image)) throw new FlagError(`--inject-image must be an image reference such as registry.example/sluice/proxy:0.1.0; got '${image}'`);
  const role = String(values.role ?? 'standalone');
  if (role !== 'standalone' && role !== 'global' && role !== 'zone') throw new FlagError(`--role must be standalone, global or zone; got '${role}'`);
  if (role !== 'zone') {
    for (const f of ['zone', 'global', 'zone-token', 'ingress-address']) if (values[f] !== undefined) throw new FlagError(`--${f} is only for --role zone (the role is ${role})`);
  }
  const ttlText = values['zone-ca-ttl'] as string | undefined;
  if (ttlText !== undefined && role !== 'global') throw new FlagError(`--zone-ca-ttl is only for --role global, which signs the zones' intermediates (the role is ${role})`);
  let zoneCaTtlMs: number | undefined;
  if (ttlText !== undefined) {
    if (!new RegExp(DURATION_PATTERN).test(ttlText)) throw new FlagError(`--zone-ca-ttl must be a duration such as 8760h or 720h30m; got '${ttlText}'`);
    zoneCaTtlMs = parseDuration(ttlText);
    // Shorter, and the renewal at two thirds would come before a zone's next heartbeat could carry it.
    if (zoneCaTtlMs < 60_000) throw new FlagError(`--zone-ca-ttl must be at least 1m; got '${ttlText}'`);
  }
  let zone: CpFlags['zone'];
  if (role === 'zone') {
    const name = values.zone as string | undefined;
    if (name === undefined) throw new FlagError('--role zone needs --zone NAME (the zone\'s name, a DNS label such as onprem)');
    if (!dns.test(name)) throw new FlagError(`--zone must be a DNS label (lower-case letters, digits and '-', at most 63); got '${name}'`);
    const global = values.global as string | undefined;
    if (global === undefined) throw new FlagError('--role zone needs --global HOST:PORT (the global control plane\'s xDS address, e.g. global.mesh.example:15012)');
    const g = parseAddr('--global', global, 15012);
    const token = values['zone-token'] as string | undefined;
    const ingress = values['ingress-address'] as string | undefined;
    const i = ingress === undefined ? null : parseAddr('--ingress-address', ingress, 15443);
    zone = { name, global: `${g.host.includes(':') ? `[${g.host}]` : g.host}:${g.port}`, tokenFile: token === undefined ? null : resolve(token), ingress: i === null ? null : { address: i.host, port: i.port } };
  }
  return {
    role,
    ...(zone === undefined ? {} : { zone }),
    ...(zoneCaTtlMs === undefined ? {} : { zoneCaTtlMs }),
    store,
    ...(kubeconfig === undefined ? {} : { kubeconfig }),
    dataDir,
    apiHost: host,
    apiPort: port,
    trustDomain: String(values['trust-domain'] ?? 'cluster.local'),
    trustDomainGiven: values['trust-domain'] !== undefined,
    caDir: (values['ca-dir'] as string | undefined) ?? `${dataDir}/ca`,
    xds: parseAddr('--xds-addr', String(values['xds-addr'] ?? '0.0.0.0:15012'), 15012),
    xdsPlaintext: plaintext === 'off' ? null : parseAddr('--xds-plaintext-addr', plaintext, 15010),
    webhook: webhook === 'off' ? null : parseAddr('--webhook-addr', webhook, 15017),
    webhookService: { name: svcName, namespace: svcNamespace },
    injectImage: image ?? null,
    injectSidecarMode: mode,
  };
}

function parseAddr(flag: string, text: string, example: number): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (m === null) throw new FlagError(`${flag} must be HOST:PORT (e.g. 127.0.0.1:${example} or [::1]:${example}); got '${text}'`);
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (port > 65535) throw new FlagError(`${flag} port must be 0-65535; got ${port}`);
  if (host === '') throw new FlagError(`${flag} needs a host (0.0.0.0 for every address); got '${text}'`);
  return { host, port };
}

/** Loopback addresses get plain HTTP: only processes on this machine can reach them. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
