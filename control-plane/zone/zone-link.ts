// The zone's side of the zone stream: it dials the global (outbound: the one port a zone
// opens), enrolls once with its zone token, then keeps a stream up with its intermediate as
// the client certificate, reconnecting with backoff. What the global sends is written
// where it survives a restart and a partition: the mesh-wide resources into the zone's own
// store (so the zone's pipeline serves them as any other), the other zones' records into
// DATADIR/zone-state.json. Cut off, the zone keeps both and goes on serving them.

import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createCsr, generateKeyPair } from '../../certs/index.ts';
import { zoneId } from '../../certs/zone-ca.ts';
import { ERROR_CODE_METADATA } from '../../xds/ca-service.ts';
import { isCertificateFailure } from '../../xds/dial.ts';
import type { Logger } from '../log.ts';
import type { ResourceStore } from '../store/store.ts';
import { applyGlobalState } from './apply-state.ts';
import type { ZoneRecord, ZoneSummary } from './model.ts';
import { ZONE_SERVICE, type GlobalMessage, type ZoneMessage } from './protocol.ts';

const CP_ID = (td: string) => `spiffe://${td}/ns/sluice-system/sa/sluice-cp`;
const HEARTBEAT_MS = 2_000;
const MAX_BACKOFF_MS = 10_000;

export type LinkState = {
  readonly connected: boolean;
  /** RFC 3339: the last message from the global; '' never. */
  readonly lastSync: string;
  readonly revision: string;
  readonly zones: readonly ZoneRecord[];
};

type Client = grpc.Client & { makeBidiStreamRequest: grpc.Client['makeBidiStreamRequest'] };

/** A channel to the global that checks it is the global's control plane of `trustDomain`, by the roots of `bundle`. */
function dial(global: string, trustDomain: string, bundle: string, identity: { cert: string; key: string } | null): Client {
  const creds = grpc.credentials.createSsl(Buffer.from(bundle), identity === null ? null : Buffer.from(identity.key), identity === null ? null : Buffer.from(identity.cert), {
    // The chain is checked against the bundle by the handshake; the name to trust is the control plane's SPIFFE ID, wherever the global is reached.
    // A zone's control plane carries the same ID, under its zone's intermediate ("zone NAME
    // intermediate CA", a name only the root gives): that one is not the global.
    checkServerIdentity: (_host, cert) => {
      if (!(cert.subjectaltname ?? '').split(', ').includes(`URI:${CP_ID(trustDomain)}`)) return new Error(`the server at ${global} is not the control plane of trust domain ${trustDomain} (its certificate names ${cert.subjectaltname ?? 'nothing'})`);
      if (String(cert.issuer?.CN ?? '').startsWith('zone ')) return new Error(`the server at ${global} is a zone's control plane (its certificate is issued by ${String(cert.issuer.CN)}), not the global`);
      return undefined;
    },
  });
  const Ctor = grpc.makeGenericClientConstructor({}, 'ZoneSync');
  return new Ctor(global, creds, { 'grpc.ssl_target_name_override': 'sluice-cp', 'grpc.default_authority': 'sluice-cp', 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000, 'grpc.keepalive_permit_without_calls': 1 }) as Client;
}

function openStream(c: Client): grpc.ClientDuplexStream<ZoneMessage, GlobalMessage> {
  const d = ZONE_SERVICE.Sync;
  return c.makeBidiStreamRequest(d.path, d.requestSerialize, d.responseDeserialize);
}

/** A refusal that no retry can fix (a bad token): the message and our code. */
export class EnrollError extends Error {}

/**
 * First contact: the zone's key and CSR, the token, and the intermediate back. Retries
 * while the global is unreachable; a refusal (token unknown, expired, used, for another
 * zone) throws EnrollError with the global's reason.
 */
export async function enroll(opts: { global: string; zone: string; version: string; token: string; bundle: string; trustDomain: string; log: Logger; signal?: AbortSignal }): Promise<{ intermediate: string; key: string; bundle: string }> {
  const keys = generateKeyPair();
  const csr = createCsr(keys.privateKeyPem, keys.publicKeyPem, zoneId(opts.trustDomain, opts.zone));
  let backoff = 500;
  for (;;) {
    const client = dial(opts.global, opts.trustDomain, opts.bundle, null);
    try {
      const got = await new Promise<GlobalMessage>((resolve, reject) => {
        const call = openStream(client);
        call.on('data', (m: GlobalMessage) => {
          if (m.intermediate !== '') {
            resolve(m);
            call.cancel();
          }
        });
        call.on('error', reject);
        call.on('end', () => reject(new Error('the global ended the stream without an intermediate')));
        call.write({ zone: opts.zone, version: opts.version, token: opts.token, csr, summary_json: '', proxies: 0 });
      });
      return { intermediate: got.intermediate, key: keys.privateKeyPem, bundle: got.trust_bundle };
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (e.code === grpc.status.UNAUTHENTICATED || e.code === grpc.status.PERMISSION_DENIED || e.code === grpc.status.INVALID_ARGUMENT) {
        throw new EnrollError(`the global control plane at ${opts.global} refused zone ${opts.zone} (${String(e.metadata?.get(ERROR_CODE_METADATA)[0] ?? e.code)}): ${e.details}`);
      }
      // A server that is not the global (another CA, or a zone) will not become it by waiting.
      if (isCertificateFailure(e.details ?? '')) throw new EnrollError(`${opts.global} is not the global control plane of the token file's trust bundle: ${e.details}`);
      opts.log('warn', 'the global control plane is not reachable yet; trying again', { global: opts.global, error: e.details ?? e.message, retryInMs: backoff });
    } finally {
      client.close();
    }
    await new Promise((r) => setTimeout(r, backoff));
    if (opts.signal?.aborted === true) throw new EnrollError('stopped before the zone enrolled');
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

export type ZoneLinkOptions = {
  readonly global: string;
  readonly zone: string;
  readonly version: string;
  readonly trustDomain: string;
  /** The zone's intermediate (client certificate) and key; the global's roots. */
  readonly identity: { readonly cert: string; readonly key: string };
  readonly bundle: string;
  readonly store: ResourceStore;
  readonly dataDir: string;
  readonly log: Logger;
  readonly now: () => number;
  /** What the zone says of itself now: its summary and the proxies connected. */
  readonly report: () => { summary: ZoneSummary; proxies: number };
  /** The other zones changed (the view is rebuilt with them). */
  readonly onZones: () => void;
  /** The global signed the zone's next intermediate: keep it (files) and sign with it from now on. */
  readonly onRenewed: (renewed: { readonly intermediate: string; readonly key: string }) => void;
};

/** A zone asks for its next intermediate when a third of this one's life is left. */
export function renewalDue(intermediatePem: string, now: number): boolean {
  const cert = new X509Certificate(intermediatePem);
  const end = cert.validToDate.getTime();
  return now >= end - (end - cert.validFromDate.getTime()) / 3;
}

/** The link to the global, kept up until close(). */
export class ZoneLink {
  readonly #o: ZoneLinkOptions;
  #state: LinkState;
  #client: Client | null = null;
  #call: grpc.ClientDuplexStream<ZoneMessage, GlobalMessage> | null = null;
  #closed = false;
  #heartbeat: NodeJS.Timeout | null = null;
  #retry: NodeJS.Timeout | null = null;
  #backoff = 500;
  #lastSent = '';
  #applying = Promise.resolve();
  readonly #file: string;
  #identity: { cert: string; key: string };
  /** The key of the intermediate asked for and not yet received, and the stream its CSR went on (once per stream: a new stream asks again). */
  #renewal: { key: string; csr: string; sentOn: unknown } | null = null;

  constructor(o: ZoneLinkOptions) {
    this.#o = o;
    this.#identity = { ...o.identity };
    this.#file = join(o.dataDir, 'zone-state.json');
    let saved: { revision: string; zones: ZoneRecord[]; lastSync?: string } = { revision: '', zones: [] };
    try {
      saved = JSON.parse(readFileSync(this.#file, 'utf8')) as typeof saved;
    } catch {
      // Never linked yet.
    }
    this.#state = { connected: false, lastSync: saved.lastSync ?? '', revision: saved.revision, zones: saved.zones };
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Every other zone, as the global last told it (what the view takes as remote zones). */
  remoteZones(): ZoneSummary[] {
    return this.#state.zones.filter((z) => z.summary.zone !== this.#o.zone).map((z) => z.summary);
  }

  start(): void {
    this.#connect();
    this.#heartbeat = setInterval(() => this.#send(false), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  close(): void {
    this.#closed = true;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#call?.cancel();
    this.#client?.close();
  }

  #connect(): void {
    if (this.#closed) return;
    this.#client?.close();
    this.#client = dial(this.#o.global, this.#o.trustDomain, this.#o.bundle, this.#identity);
    const call = openStream(this.#client);
    this.#call = call;
    this.#lastSent = '';
    let done = false;
    const lost = (why: string) => {
      if (done) return;
      done = true;
      // A stream given up for a new one (a renewed intermediate) ends quietly.
      if (this.#call !== call) return;
      this.#call = null;
      if (this.#state.connected) this.#o.log('warn', 'link to the global control plane lost; serving the last config', { global: this.#o.global, reason: why });
      this.#state = { ...this.#state, connected: false };
      this.#save();
      if (this.#closed) return;
      this.#retry = setTimeout(() => this.#connect(), this.#backoff);
      this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
    };
    call.on('data', (m: GlobalMessage) => {
      if (!this.#state.connected) this.#o.log('info', 'linked to the global control plane', { global: this.#o.global, revision: m.revision });
      this.#backoff = 500;
      this.#state = { ...this.#state, connected: true, lastSync: new Date(this.#o.now()).toISOString() };
      if (m.intermediate !== '') return void this.#renewed(m.intermediate, call);
      this.#applying = this.#applying.then(() => this.#receive(m)).catch((err: unknown) => this.#o.log('error', 'applying the global state failed; trying again on the next message', { error: (err as Error).message }));
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED) this.#o.log('error', 'the global control plane refused this zone', { code: String(err.metadata?.get(ERROR_CODE_METADATA)[0] ?? err.code), reason: err.details });
      lost(err.details ?? err.message);
    });
    call.on('end', () => lost('the global ended the stream'));
    this.#send(true);
  }

  #send(first: boolean): void {
    const call = this.#call;
    if (call === null) return;
    const { summary, proxies } = this.#o.report();
    const text = JSON.stringify(summary);
    if (this.#renewal === null && renewalDue(this.#identity.cert, this.#o.now())) {
      const keys = generateKeyPair();
      this.#renewal = { key: keys.privateKeyPem, csr: createCsr(keys.privateKeyPem, keys.publicKeyPem, zoneId(this.#o.trustDomain, this.#o.zone)), sentOn: null };
      this.#o.log('info', 'asking the global for the zone\'s next intermediate CA', { notAfter: new X509Certificate(this.#identity.cert).validToDate.toISOString() });
    }
    const ask = this.#renewal !== null && this.#renewal.sentOn !== call;
    if (ask) this.#renewal!.sentOn = call;
    call.write({ zone: this.#o.zone, version: this.#o.version, token: '', csr: ask ? this.#renewal!.csr : '', summary_json: first || text !== this.#lastSent ? text : '', proxies });
    this.#lastSent = text;
  }

  /** The next intermediate: kept, signed with, and the link made again under it. */
  #renewed(intermediate: string, call: grpc.ClientDuplexStream<ZoneMessage, GlobalMessage>): void {
    const pending = this.#renewal;
    let matches = false;
    try {
      matches = pending !== null && new X509Certificate(intermediate).publicKey.equals(createPublicKey(pending.key));
    } catch {
      // Not a certificate: said below, as any other that does not fit.
    }
    if (pending === null || !matches) {
      this.#o.log('warn', 'an intermediate CA came from the global for a key this zone did not ask with; ignored');
      return;
    }
    this.#renewal = null;
    try {
      this.#o.onRenewed({ intermediate, key: pending.key });
    } catch (err) {
      // Kept signing with the current one; the next heartbeat asks again.
      this.#o.log('error', 'cannot keep the renewed intermediate CA; asking again', { error: (err as Error).message });
      return;
    }
    this.#identity = { cert: intermediate, key: pending.key };
    this.#o.log('info', 'zone intermediate CA renewed', { notAfter: new X509Certificate(intermediate).validToDate.toISOString() });
    // The stream stays proven by the old certificate; link again under the new one (the global keeps the newest stream).
    this.#connect();
    call.cancel();
  }

  /** What a restart starts from: the last state, and when the global was last heard from. */
  #save(): void {
    const { revision, zones, lastSync } = this.#state;
    try {
      writeFileSync(this.#file, JSON.stringify({ revision, zones, lastSync }));
    } catch (err) {
      this.#o.log('warn', 'cannot keep the state from the global', { file: this.#file, error: (err as Error).message });
    }
  }

  async #receive(m: GlobalMessage): Promise<void> {
    if (m.revision === '') return;
    const zones = JSON.parse(m.zones_json) as ZoneRecord[];
    const content = (list: readonly ZoneRecord[]) => JSON.stringify(list.map((z) => ({ ...z.summary, lastSync: '' })));
    // A zone's lastSync moves with every heartbeat; the view needs a rebuild only when what a zone serves changed.
    const zonesChanged = content(zones) !== content(this.#state.zones);
    const revisionChanged = m.revision !== this.#state.revision;
    if (revisionChanged) {
      const changed = await applyGlobalState(this.#o.store, JSON.parse(m.resources_json));
      if (changed > 0) this.#o.log('info', 'mesh-wide resources from the global applied', { revision: m.revision, changed });
    }
    this.#state = { ...this.#state, revision: m.revision, zones };
    this.#save();
    if (zonesChanged) this.#o.onZones();
  }
}
