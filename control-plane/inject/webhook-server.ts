// The injection webhook on :15017: HTTPS with a certificate from the mesh CA for the
// webhook Service's DNS names (the API server checks it against the caBundle of the
// MutatingWebhookConfiguration, ca-bundle.ts), POST /inject with an AdmissionReview v1 in
// and out. Bad input is answered 400 with the reason; nothing a client sends stops it.

import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, issueSvid, parseSpiffeId, workloadId, type Ca } from '../../certs/index.ts';
import type { Logger } from '../log.ts';
import { admissionReviewResponse, parseAdmissionReview } from './admission-review.ts';
import type { InjectConfig } from './config.ts';
import { mutate, type Labels } from './mutate.ts';

export const INJECT_PATH = '/inject';
/** The API server caps a request at 3 MiB; a Pod is far smaller. */
const MAX_BODY = 4 * 1024 * 1024;
const CERT_TTL_MS = 30 * 86_400_000;

export type WebhookServerOptions = {
  readonly host: string;
  readonly port: number;
  readonly ca: Ca;
  /** The webhook Service `name` in `namespace`: the certificate's DNS names. */
  readonly service: string;
  readonly namespace: string;
  readonly config: InjectConfig;
  /** The namespace's labels from the API; absent: the webhook configuration's namespaceSelector decides (mutate.ts). */
  readonly namespaceLabels?: (namespace: string) => Promise<Labels | null>;
  readonly log: Logger;
  readonly now: () => number;
};

export type WebhookServer = {
  readonly port: number;
  /** Issues a fresh certificate (from `ca`, e.g. after a CA rotation); new handshakes use it. */
  renew(ca: Ca): void;
  close(): Promise<void>;
};

/** The DNS names the API server dials a Service by. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

/** A serving certificate for the webhook Service, made from the mesh CA; the key stays in memory. */
export function webhookCertificate(ca: Ca, service: string, namespace: string, now: number): { cert: string; key: string } {
  const id = parseSpiffeId(workloadId(ca.trustDomain, namespace, service));
  if (!id.ok) throw new Error(`--webhook-service ${service}.${namespace}: ${id.error}`);
  const keys = generateKeyPair();
  const svid = issueSvid(ca, { spiffeId: id.value, publicKeyPem: keys.publicKeyPem, now, ttlMs: CERT_TTL_MS, dnsNames: serviceDnsNames(service, namespace) });
  if (!svid.ok) throw new Error(`cannot issue the webhook's certificate: ${svid.error}`);
  return { cert: svid.value.certChain, key: keys.privateKeyPem };
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const { log } = opts;
  const server: Server = createServer({ ...webhookCertificate(opts.ca, opts.service, opts.namespace, opts.now()), minVersion: 'TLSv1.2' }, (req, res) => {
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (path !== INJECT_PATH) return (req.resume(), reply(404, `not found: the webhook serves POST ${INJECT_PATH}\n`));
    if (req.method !== 'POST') return (req.resume(), res.setHeader('allow', 'POST'), reply(405, `method not allowed: POST an AdmissionReview v1 to ${INJECT_PATH}\n`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reply(413, `the AdmissionReview is larger than ${MAX_BODY} bytes\n`);
        req.destroy();
      } else chunks.push(c);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      void answer(Buffer.concat(chunks).toString('utf8')).then(
        ({ status, body }) => reply(status, body, status === 200 ? 'application/json' : undefined),
        (err: unknown) => {
          log('error', 'injection failed', { error: (err as Error).message });
          reply(500, `injection failed: ${(err as Error).message}\n`);
        },
      );
    });
  });

  async function answer(text: string): Promise<{ status: number; body: string }> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return { status: 400, body: `the body is not JSON: ${(err as Error).message}\n` };
    }
    const review = parseAdmissionReview(json);
    if (!review.ok) return { status: 400, body: `not an AdmissionReview v1: ${review.error}\n` };
    const r = review.value;
    const labels = opts.namespaceLabels === undefined || r.kind !== '/v1/Pod' ? null : await opts.namespaceLabels(r.namespace);
    const m = mutate(r, labels, opts.config);
    const pod = r.pod.metadata?.name || `${r.pod.metadata?.generateName ?? ''}*`;
    if (m.decision.injected) log('info', 'pod injected', { namespace: r.namespace, pod, uid: r.uid });
    else log(m.response.allowed ? 'debug' : 'warn', m.response.allowed ? 'pod not injected' : 'pod refused', { namespace: r.namespace, pod, uid: r.uid, reason: m.decision.reason });
    return { status: 200, body: JSON.stringify(admissionReviewResponse(m.response)) };
  }

  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      server.on('error', (err) => log('error', 'webhook server error', { error: err.message }));
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    renew: (ca) => server.setSecureContext({ ...webhookCertificate(ca, opts.service, opts.namespace, opts.now()), minVersion: 'TLSv1.2' }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
