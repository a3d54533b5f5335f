// The certificate service as tests meet it: a real grpc.Server on 127.0.0.1:0 with the
// :15012 TLS credentials, a real file store in a temporary folder with Workloads in it, a
// clock the test drives, and a client speaking the real gRPC stream over TLS.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createCsr, generateKeyPair, type Ca, type KeyPairPem } from '../../../certs/index.ts';
import { addCertificateService, controlPlaneCredentials, joinTokens, type JoinTokens } from '../../../control-plane/ca/index.ts';
import type { Logger } from '../../../control-plane/log.ts';
import type { TokenReviewer } from '../../../control-plane/ca/pod-attestation.ts';
import { openStore, type ResourceStore } from '../../../control-plane/store/index.ts';
import { CERTIFICATE_SERVICE, CERTIFY_PATH, ERROR_CODE_METADATA, type CertificateRequest, type CertificateResponse } from '../../../xds/index.ts';
import { newCa } from '../../helpers/mesh-pki.ts';

export const TRUST_DOMAIN = 'mesh.example';
export const ORDERS_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/orders`;
export const BILLING_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/billing`;

/** One CA and a few key pairs for the whole run: RSA key generation is the slow part, and reusing them weakens no check here. */
let shared: { ca: Ca; keys: KeyPairPem[] } | undefined;
export function sharedPki(): { ca: Ca; keys: KeyPairPem[] } {
  shared ??= { ca: newCa(TRUST_DOMAIN), keys: [generateKeyPair(), generateKeyPair(), generateKeyPair()] };
  return shared;
}

export const csrFor = (keys: KeyPairPem, spiffeId: string) => createCsr(keys.privateKeyPem, keys.publicKeyPem, spiffeId);

export type LogLine = { level: string; msg: string; fields?: Record<string, unknown> };

export type Service = {
  readonly ca: Ca;
  readonly store: ResourceStore;
  readonly tokens: JoinTokens;
  readonly address: string;
  readonly clock: { now: () => number; advance(ms: number): void };
  readonly logs: LogLine[];
  readonly server: grpc.Server;
  mint(workload: string, ttlMs?: number): Promise<string>;
  close(): Promise<void>;
};

export async function startService(opts: { svidTtlMs?: number; port?: number; ca?: Ca; storeDir?: string; store?: ResourceStore; reviewTokens?: TokenReviewer } = {}): Promise<Service> {
  const ca = opts.ca ?? sharedPki().ca;
  let offset = 0;
  const clock = { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) };
  const store = opts.store ?? (await openStore(`file:${opts.storeDir ?? mkdtempSync(join(tmpdir(), 'sluice-ca-store-'))}`, { clock: clock.now }));
  if (opts.store === undefined) {
    for (const [name, serviceAccount] of [['orders-vm-1', 'orders'], ['billing-vm-1', 'billing']]) {
      await store.create('workloads.mesh.sluice.dev', { apiVersion: 'mesh.sluice.dev/v1alpha1', kind: 'Workload', metadata: { name, namespace: 'shop' }, spec: { address: '10.0.3.7', serviceAccount } });
    }
  }
  const tokens = joinTokens({ store, trustDomain: ca.trustDomain, now: clock.now });
  const logs: LogLine[] = [];
  const log: Logger = (level, msg, fields) => void logs.push({ level, msg, fields });
  const server = new grpc.Server();
  addCertificateService(server, { store, ca, now: clock.now, log, tokens, svidTtlMs: opts.svidTtlMs, reviewTokens: opts.reviewTokens });
  const { credentials } = controlPlaneCredentials(ca, '127.0.0.1', clock.now());
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, credentials, (err, p) => (err === null ? resolve(p) : reject(err))));
  return {
    ca,
    store,
    tokens,
    address: `127.0.0.1:${port}`,
    clock,
    logs,
    server,
    async mint(workload, ttlMs = 3_600_000) {
      const r = await tokens.mint('shop', workload, ttlMs);
      if (!r.ok) throw new Error(r.error.message);
      return r.value.token;
    },
    async close() {
      server.forceShutdown();
      if (opts.store === undefined) await store.close();
    },
  };
}

export type Refused = { code: grpc.status; details: string; sluiceCode: string | undefined };

/** One Certify stream: send a request, read its answer or the status that ended the stream. */
export type Stream = {
  send(req: Partial<CertificateRequest>): Promise<CertificateResponse>;
  /** The refusal, for a request that must be refused. */
  refused(req: Partial<CertificateRequest>): Promise<Refused>;
  close(): void;
};

export function openStream(address: string, bundle: string, clientSvid?: { cert: string; key: string }): Stream {
  const creds = clientSvid === undefined ? grpc.credentials.createSsl(Buffer.from(bundle)) : grpc.credentials.createSsl(Buffer.from(bundle), Buffer.from(clientSvid.key), Buffer.from(clientSvid.cert));
  // A name the serving certificate carries: TLS servername may not be an IP address (RFC 6066).
  const client = new grpc.Client(address, creds, { 'grpc.ssl_target_name_override': 'localhost' });
  const call = client.makeBidiStreamRequest(CERTIFY_PATH, CERTIFICATE_SERVICE.Certify.requestSerialize, CERTIFICATE_SERVICE.Certify.responseDeserialize, new grpc.Metadata(), {});
  const answers: CertificateResponse[] = [];
  let ended: Refused | null = null;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  call.on('data', (r: CertificateResponse) => (answers.push(r), wake()));
  call.on('error', () => {});
  call.on('status', (s: grpc.StatusObject) => {
    ended = { code: s.code, details: s.details, sluiceCode: s.metadata.get(ERROR_CODE_METADATA)[0]?.toString() };
    wake();
  });
  const next = async (): Promise<CertificateResponse | Refused> => {
    for (;;) {
      if (answers.length > 0) return answers.shift()!;
      if (ended !== null) return ended;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  let n = 0;
  const write = (req: Partial<CertificateRequest>) => call.write({ csr: '', join_token: '', request_id: `r${++n}`, workload: '', ...req });
  return {
    async send(req) {
      write(req);
      const r = await next();
      if ('cert_chain' in r) return r;
      throw Object.assign(new Error(`refused: ${grpc.status[r.code]} ${r.sluiceCode}: ${r.details}`), r);
    },
    async refused(req) {
      write(req);
      const r = await next();
      if ('cert_chain' in r) throw new Error(`expected a refusal, got a certificate for ${r.spiffe_id}`);
      return r;
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}
