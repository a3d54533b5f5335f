// The global's side of the zone stream (sluice.zone.v1.ZoneSync/Sync on :15012). A stream
// is one zone, proven once on its first message: by its intermediate as the TLS client
// certificate (grpc-js shows handlers only a certificate that chained to our roots), or on
// first contact by a zone token, answered with the zone's intermediate signed by the root.
// From then on the global sends the full mesh-wide state at its store revision, and every
// zone's record, each time either changes; the zone sends its summary. When a zone's
// stream ends, the zone is offline (its last summary stays, marked so).

import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { readCsr } from '../../certs/csr.ts';
import { signZoneIntermediate, zoneId, zoneOfCertificate } from '../../certs/zone-ca.ts';
import { ERROR_CODE_METADATA } from '../../xds/ca-service.ts';
import type { Resource } from '../api/resource.ts';
import type { Logger } from '../log.ts';
import type { ResourceStore, Watch } from '../store/store.ts';
import { ZONE_NAME, type ZoneRecord, type ZoneSummary } from './model.ts';
import { ZONE_SERVICE, type GlobalMessage, type ZoneMessage } from './protocol.ts';
import { MESH_WIDE_TYPES } from './roles.ts';
import type { ZoneTokens } from './tokens.ts';

export type GlobalZonesDeps = {
  readonly store: ResourceStore;
  readonly tokens: ZoneTokens;
  readonly trustDomain: string;
  /** The root (PEM) and its key: they sign the zones' intermediates. */
  readonly root: { readonly cert: string; readonly key: string };
  /** The mesh's roots, sent to every zone. */
  readonly bundle: string;
  readonly dataDir: string;
  readonly now: () => number;
  readonly log: Logger;
  /** How long a zone's intermediate lives (sluice-cp --zone-ca-ttl); absent: a year. */
  readonly zoneCaTtlMs?: number;
};

type Stream = grpc.ServerDuplexStream<ZoneMessage, GlobalMessage>;
type Known = { summary: ZoneSummary; version: string; proxies: number; stream: Stream | null };

class Refusal extends Error {
  readonly status: grpc.status;
  readonly code: string;
  constructor(status: grpc.status, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The zones the global knows: who is linked now, and the last each said of itself. */
export class GlobalZones {
  readonly #deps: GlobalZonesDeps;
  readonly #zones = new Map<string, Known>();
  #state: { revision: string; resources: string } = { revision: '0', resources: '[]' };
  #watch: Watch | null = null;
  #timer: NodeJS.Timeout | null = null;
  readonly #file: string;

  constructor(deps: GlobalZonesDeps) {
    this.#deps = deps;
    this.#file = join(deps.dataDir, 'zones.json');
    // The zones known before a restart: offline until they come back.
    try {
      for (const r of JSON.parse(readFileSync(this.#file, 'utf8')) as ZoneRecord[]) this.#zones.set(r.summary.zone, { summary: { ...r.summary, online: false }, version: r.version, proxies: r.proxies, stream: null });
    } catch {
      // None yet (or unreadable: they come back as they reconnect).
    }
  }

  /** Reads the mesh-wide state and follows the store from there. */
  async start(): Promise<void> {
    const store = this.#deps.store;
    this.#watch = await store.watch({ fromRevision: store.revision() }, (e) => {
      if (MESH_WIDE_TYPES.includes(e.resourceType)) this.#changed();
    });
    await this.#read();
  }

  register(server: grpc.Server): void {
    server.addService(ZONE_SERVICE, { Sync: (call: Stream) => this.#sync(call) });
  }

  /** Every zone, as `sluicectl get zones` shows them. */
  records(): ZoneRecord[] {
    return [...this.#zones.values()].map((z) => ({ summary: z.summary, version: z.version, proxies: z.proxies })).sort((a, b) => (a.summary.zone < b.summary.zone ? -1 : 1));
  }

  close(): void {
    this.#watch?.close();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const z of this.#zones.values()) z.stream?.end();
  }

  #changed(): void {
    if (this.#timer === null) this.#timer = setTimeout(() => void this.#read().catch((err: unknown) => this.#deps.log('error', 'reading the mesh-wide state for the zones failed', { error: (err as Error).message })), 20);
  }

  async #read(): Promise<void> {
    this.#timer = null;
    const resources: Resource[] = [];
    let revision = 0;
    for (const type of MESH_WIDE_TYPES) {
      const list = await this.#deps.store.list(type);
      resources.push(...list.items);
      revision = Math.max(revision, list.revision);
    }
    this.#state = { revision: String(revision), resources: JSON.stringify(resources) };
    this.#broadcast();
  }

  #message(): GlobalMessage {
    return { intermediate: '', trust_bundle: this.#deps.bundle, revision: this.#state.revision, resources_json: this.#state.resources, zones_json: JSON.stringify(this.records()) };
  }

  #broadcast(): void {
    const m = this.#message();
    for (const z of this.#zones.values()) z.stream?.write(m);
    try {
      writeFileSync(this.#file, JSON.stringify(this.records()));
    } catch (err) {
      this.#deps.log('warn', 'cannot keep the zones known', { file: this.#file, error: (err as Error).message });
    }
  }

  /** Who the first message is: its zone name, after the proof. */
  async #authenticate(call: Stream, m: ZoneMessage): Promise<string> {
    if (!ZONE_NAME.test(m.zone)) throw new Refusal(grpc.status.INVALID_ARGUMENT, 'ZONE_NAME_INVALID', `zone name '${m.zone}' is not a DNS label`);
    const raw = call.getAuthContext().sslPeerCertificate?.raw;
    if (raw !== undefined && m.token === '') {
      const cert = new X509Certificate(raw);
      const now = this.#deps.now();
      if (now < cert.validFromDate.getTime() || now >= cert.validToDate.getTime()) throw new Refusal(grpc.status.UNAUTHENTICATED, 'ZONE_CA_EXPIRED', `the zone's intermediate is valid only until ${cert.validToDate.toISOString()}; enroll again with a new zone token (sluicectl zone token create ${m.zone})`);
      const zone = zoneOfCertificate(cert, this.#deps.trustDomain);
      if (!zone.ok) throw new Refusal(grpc.status.UNAUTHENTICATED, 'ZONE_CERT_INVALID', `the client certificate is not a zone intermediate of this mesh: ${zone.error}`);
      if (zone.value !== m.zone) throw new Refusal(grpc.status.PERMISSION_DENIED, 'WRONG_ZONE', `the client certificate is zone ${zone.value}'s, but the stream says it is zone ${m.zone}`);
      return m.zone;
    }
    if (m.token === '') throw new Refusal(grpc.status.UNAUTHENTICATED, 'NO_PROOF', `zone ${m.zone} has no proof: a first contact needs a zone token (sluicectl zone token create ${m.zone}, then sluice-cp --zone-token FILE)`);
    const publicKeyPem = this.#csrKey(m.zone, m.csr);
    const used = await this.#deps.tokens.consume(m.token, m.zone, publicKeyPem);
    if (!used.ok) throw new Refusal(grpc.status.UNAUTHENTICATED, used.error.code, used.error.message);
    call.write(this.#intermediate(m.zone, publicKeyPem));
    this.#deps.log('info', 'zone enrolled', { zone: m.zone, token: used.value.id, identity: zoneId(this.#deps.trustDomain, m.zone) });
    return m.zone;
  }

  /** The public key of a zone's CSR, once it asks for that zone's identity and no other. */
  #csrKey(zone: string, pem: string): string {
    const csr = readCsr(pem);
    if (!csr.ok) throw new Refusal(grpc.status.INVALID_ARGUMENT, 'CSR_INVALID', `the zone's CSR cannot be used: ${csr.error}`);
    const want = zoneId(this.#deps.trustDomain, zone);
    if (csr.value.uris.length !== 1 || csr.value.uris[0] !== want) throw new Refusal(grpc.status.PERMISSION_DENIED, 'IDENTITY_MISMATCH', `the CSR asks for ${csr.value.uris.join(', ') || 'no identity'}, not ${want}`);
    return csr.value.publicKeyPem;
  }

  #intermediate(zone: string, publicKeyPem: string): GlobalMessage {
    const signed = signZoneIntermediate({ rootPem: this.#deps.root.cert, rootKeyPem: this.#deps.root.key, publicKeyPem, trustDomain: this.#deps.trustDomain, zone, now: this.#deps.now(), ttlMs: this.#deps.zoneCaTtlMs });
    if (!signed.ok) throw new Refusal(grpc.status.INTERNAL, 'ISSUE_FAILED', signed.error);
    return { intermediate: signed.value, trust_bundle: this.#deps.bundle, revision: '', resources_json: '', zones_json: '' };
  }

  #sync(call: Stream): void {
    let zone: string | null = null;
    let enrolling = false;
    let ended = false;
    let queue = Promise.resolve();
    const end = (err: unknown) => {
      if (ended) return;
      ended = true;
      const r = err instanceof Refusal ? err : new Refusal(grpc.status.INTERNAL, 'INTERNAL', (err as Error).message);
      this.#deps.log('warn', 'zone stream refused', { zone: zone ?? '', code: r.code, reason: r.message });
      const metadata = new grpc.Metadata();
      metadata.set(ERROR_CODE_METADATA, r.code);
      call.emit('error', { code: r.status, details: r.message, metadata });
    };
    const handle = async (m: ZoneMessage) => {
      if (enrolling) return;
      const first = zone === null;
      if (zone === null) {
        // A first contact only enrolls: the zone links again with its intermediate.
        if (m.token !== '') {
          enrolling = true;
          await this.#authenticate(call, m);
          return;
        }
        zone = await this.#authenticate(call, m);
        const old = this.#zones.get(zone)?.stream;
        // The newest stream of a zone wins: the old one is a link the zone gave up on.
        if (old !== null && old !== undefined) old.end();
        this.#zones.set(zone, { summary: this.#zones.get(zone)?.summary ?? emptySummary(zone), version: m.version, proxies: m.proxies, stream: call });
        // Which intermediate proves it: after a renewal, the zone links again under the new one.
        const raw = call.getAuthContext().sslPeerCertificate?.raw;
        this.#deps.log('info', 'zone online', { zone, version: m.version, ...(raw === undefined ? {} : { intermediateNotAfter: new X509Certificate(raw).validToDate.toISOString() }) });
      }
      const known = this.#zones.get(zone)!;
      if (known.stream !== call) return;
      // Renewal: a linked zone, proven by its intermediate, asks for the next one before this one ends.
      if (m.csr !== '' && m.token === '') {
        call.write(this.#intermediate(zone, this.#csrKey(zone, m.csr)));
        this.#deps.log('info', 'zone intermediate CA renewed', { zone });
      }
      let summary = known.summary;
      if (m.summary_json !== '') {
        try {
          summary = JSON.parse(m.summary_json) as ZoneSummary;
        } catch {
          throw new Refusal(grpc.status.INVALID_ARGUMENT, 'SUMMARY_INVALID', 'the zone summary is not JSON');
        }
      }
      const changed = m.summary_json !== '' || m.proxies !== known.proxies || !known.summary.online;
      this.#zones.set(zone, { summary: { ...summary, zone, online: true, lastSync: new Date(this.#deps.now()).toISOString() }, version: m.version, proxies: m.proxies, stream: call });
      // Everyone hears of a change; a heartbeat with nothing new gets an empty answer (the zone's lastSync), and the first message the whole state.
      if (changed) this.#broadcast();
      else if (!ended) call.write(first ? this.#message() : { intermediate: '', trust_bundle: '', revision: '', resources_json: '', zones_json: '' });
    };
    const gone = () => {
      if (zone === null) return;
      const known = this.#zones.get(zone);
      if (known?.stream !== call) return;
      this.#zones.set(zone, { ...known, summary: { ...known.summary, online: false }, stream: null });
      this.#deps.log('warn', 'zone offline', { zone, lastSync: known.summary.lastSync });
      this.#broadcast();
    };
    call.on('data', (m: ZoneMessage) => {
      queue = queue.then(() => (ended ? undefined : handle(m))).catch(end);
    });
    call.on('end', () => {
      gone();
      if (!ended) call.end();
      ended = true;
    });
    call.on('error', () => {
      ended = true;
      gone();
    });
    call.on('cancelled', () => {
      ended = true;
      gone();
    });
  }
}

function emptySummary(zone: string): ZoneSummary {
  return { zone, ingress: null, online: true, lastSync: '', services: [] };
}
