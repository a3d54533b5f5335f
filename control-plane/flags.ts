// sluice-cp's flags, parsed strictly: an unknown or malformed flag stops startup with
// the reason, before anything is opened.

import { isIP } from 'node:net';
import { parseArgs } from 'node:util';

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
  return {
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
