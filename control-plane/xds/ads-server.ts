// The ADS server, state of the world: one gRPC stream per client, and per type URL on it
// the subscription, what was last sent (version, nonce), what the client last ACKed, and
// its last NACK. A response goes out only for a new subscription, changed names, or a
// changed snapshot: never on an ACK (gRPC clients would loop), never again after a NACK
// until the config changes. Delta xDS would add a second handler over the same state.

import * as grpc from '@grpc/grpc-js';
import { adsPackageDefinition, PUSH_ORDER, TYPE_URLS, type TypeUrl } from '../../xds/index.ts';
import type { Logger } from '../log.ts';
import { nodeContextOf, type NodeInfo } from './node.ts';
import type { NodeContext } from './generate/resources.ts';
import type { SnapshotCache } from './snapshot-cache.ts';
import { pick, versionOf, type NodeSnapshot } from './snapshot.ts';
import { encodeDiscoveryResponse, isPlainResponse } from './discovery-response.ts';
import type { XdsEvents } from '../telemetry/metrics.ts';

type DiscoveryRequest = {
  version_info?: string;
  node?: NodeInfo;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
};

export type TypeState = {
  names: ReadonlySet<string> | null;
  sentVersion: string;
  sentNonce: string;
  sentAt: number;
  ackedVersion: string;
  ackedAt: number;
  nack: { readonly version: string; readonly nonce: string; readonly message: string; readonly at: number } | null;
};

export type AdsStream = {
  readonly id: number;
  readonly peer: string;
  readonly connectedAt: number;
  node: NodeContext | null;
  nodeInfo: NodeInfo | null;
  readonly types: Map<TypeUrl, TypeState>;
  readonly call: grpc.ServerDuplexStream<DiscoveryRequest, unknown>;
};

const SERVED = new Set<string>(Object.values(TYPE_URLS));
/** Streams pushed to between two turns of the event loop. */
const PUSH_BATCH = 100;
/** Proxies that left, remembered for proxy-status (OFFLINE, since when); the oldest go first past this many. */
const DEPARTED_KEPT = 10_000;
/** For these an empty name list means "all of them" (SotW wildcard); for the others, none. */
const WILDCARD_TYPES = new Set<string>([TYPE_URLS.Listener, TYPE_URLS.Cluster]);

export type AdsServerDeps = {
  readonly cache: SnapshotCache;
  readonly log: Logger;
  readonly now: () => number;
  /** May refuse a node on this stream (e.g. a proxy whose certificate is another workload's): the reason, or null. */
  readonly admit?: (node: NodeContext, call: grpc.ServerDuplexStream<unknown, unknown>) => string | null;
  /** Called (synchronously, so keep it cheap) when a node connects, ACKs, NACKs or leaves: its sync state changed. */
  readonly onChange?: () => void;
  /** The control plane's metrics (telemetry/metrics.ts): NACKs, ACK times, push passes. */
  readonly events?: XdsEvents;
};

export class AdsServer {
  #deps: AdsServerDeps;
  #streams = new Map<number, AdsStream>();
  /** Node id -> its last stream and when it ended, while no stream of that node is open. */
  #departed = new Map<string, { readonly stream: AdsStream; readonly leftAt: number }>();
  #nextId = 1;
  #nonce = 0;
  #pushing = false;
  #again = false;

  constructor(deps: AdsServerDeps) {
    this.#deps = deps;
  }

  /** Adds the AggregatedDiscoveryService to a gRPC server (the caller binds it); `admit` may refuse nodes on it. */
  register(server: grpc.Server, admit: AdsServerDeps['admit'] = this.#deps.admit): void {
    const pkg = grpc.loadPackageDefinition(adsPackageDefinition()) as unknown as {
      envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: { service: grpc.ServiceDefinition } } } } };
    };
    const service = pkg.envoy.service.discovery.v3.AggregatedDiscoveryService.service;
    const sotw = service.StreamAggregatedResources;
    // Our responses carry packed resources: written as bytes (discovery-response.ts), not through protobufjs's fromObject.
    const serialize = (value: unknown): Buffer => (isPlainResponse(value) ? encodeDiscoveryResponse(value) : sotw.responseSerialize(value));
    server.addService({ ...service, StreamAggregatedResources: { ...sotw, responseSerialize: serialize } }, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, unknown>) => this.#open(call, admit),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'delta xDS is not served yet: use state-of-the-world ADS (StreamAggregatedResources)' });
      },
    });
  }

  get streams(): ReadonlyMap<number, AdsStream> {
    return this.#streams;
  }

  /**
   * Nodes that were connected and are not now, with when they left: a proxy that went away
   * is shown OFFLINE (Kuma's way), not dropped as if it had never been. In memory: a
   * restarted control plane knows only the proxies that reconnect.
   */
  get departed(): ReadonlyMap<string, { readonly stream: AdsStream; readonly leftAt: number }> {
    return this.#departed;
  }

  /**
   * After the cache took a new view: every subscribed type whose content changed is pushed,
   * in make-before-break order. Streams are served in batches with the event loop let in
   * between, so the first proxies get (and ACK) their config while the last are still built;
   * a view arriving mid-push restarts the pass, which skips what is already current.
   */
  pushAll(): void {
    if (this.#pushing) {
      this.#again = true;
      return;
    }
    this.#pushing = true;
    void this.#pushInBatches();
  }

  async #pushInBatches(): Promise<void> {
    const started = performance.now();
    do {
      this.#again = false;
      let n = 0;
      for (const s of [...this.#streams.values()]) {
        if (!this.#streams.has(s.id)) continue;
        this.#push(s);
        if (++n % PUSH_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    } while (this.#again);
    this.#pushing = false;
    this.#deps.events?.pushed((performance.now() - started) / 1000);
  }

  /** Ends every stream (the control plane is stopping); clients reconnect to another or later. */
  close(): void {
    for (const s of this.#streams.values()) s.call.end();
    this.#streams.clear();
  }

  #open(call: grpc.ServerDuplexStream<DiscoveryRequest, unknown>, admit: AdsServerDeps['admit']): void {
    const stream: AdsStream = { id: this.#nextId++, peer: call.getPeer(), connectedAt: this.#deps.now(), node: null, nodeInfo: null, types: new Map(), call };
    this.#streams.set(stream.id, stream);
    const gone = () => {
      if (!this.#streams.delete(stream.id) || stream.node === null) return;
      const id = stream.node.id;
      this.#deps.log('info', 'xds client left', { node: id, peer: stream.peer });
      // A node may hold two streams a moment (it reconnected before the old one ended).
      for (const s of this.#streams.values()) if (s.node?.id === id) return;
      this.#departed.delete(id);
      this.#departed.set(id, { stream, leftAt: this.#deps.now() });
      if (this.#departed.size > DEPARTED_KEPT) this.#departed.delete(this.#departed.keys().next().value!);
      this.#deps.onChange?.();
    };
    call.on('data', (req: DiscoveryRequest) => {
      try {
        this.#onRequest(stream, req, admit);
      } catch (err) {
        this.#deps.log('error', 'xds request failed', { node: stream.node?.id, error: (err as Error).stack ?? String(err) });
        call.emit('error', { code: grpc.status.INTERNAL, details: 'the control plane failed to answer this request; its log has the details' });
      }
    });
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('error', gone);
    call.on('cancelled', gone);
  }

  #onRequest(stream: AdsStream, req: DiscoveryRequest, admit: AdsServerDeps['admit']): void {
    if (stream.node === null) {
      if (req.node === undefined || req.node === null || !req.node.id) {
        stream.call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'the first request on a stream must carry node.id' });
        return;
      }
      const ctx = nodeContextOf(req.node);
      if (typeof ctx === 'string') {
        stream.call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: ctx });
        return;
      }
      const refused = admit?.(ctx, stream.call) ?? null;
      if (refused !== null) {
        stream.call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: refused });
        return;
      }
      stream.node = ctx;
      stream.nodeInfo = req.node;
      this.#departed.delete(ctx.id);
      this.#deps.log('info', 'xds client connected', { node: ctx.id, kind: ctx.kind, peer: stream.peer });
      this.#deps.onChange?.();
    }
    const typeUrl = req.type_url ?? '';
    if (!SERVED.has(typeUrl)) {
      this.#deps.log('warn', 'xds client asked for a type this control plane does not serve', { node: stream.node.id, typeUrl });
      return;
    }
    const type = typeUrl as TypeUrl;
    let state = stream.types.get(type);
    const first = state === undefined;
    state ??= { names: null, sentVersion: '', sentNonce: '', sentAt: 0, ackedVersion: '', ackedAt: 0, nack: null };
    stream.types.set(type, state);
    const nonce = req.response_nonce ?? '';
    // A request answering an older response crossed a newer one in flight: the client will answer that one too.
    if (!first && nonce !== '' && nonce !== state.sentNonce) return;
    const now = this.#deps.now();
    if (nonce !== '') {
      if (req.error_detail !== undefined && req.error_detail !== null) {
        state.nack = { version: state.sentVersion, nonce, message: req.error_detail.message ?? '(no message)', at: now };
        this.#deps.log('warn', 'xds client refused config (NACK)', { node: stream.node.id, typeUrl, version: state.sentVersion, error: state.nack.message });
        this.#deps.events?.nack(type);
      } else {
        if (state.sentAt > 0) this.#deps.events?.acked(type, (now - state.sentAt) / 1000);
        state.ackedVersion = req.version_info ?? '';
        state.ackedAt = now;
        state.nack = null;
      }
      this.#deps.onChange?.();
    }
    const names = req.resource_names ?? [];
    const wanted = names.length === 0 && WILDCARD_TYPES.has(type) ? null : new Set(names);
    if (!first && sameNames(state.names, wanted)) return;
    state.names = wanted;
    const snapshot = this.#snapshot(stream);
    if (snapshot === null) return;
    const resources = snapshot.get(type)!;
    const version = versionOf(resources, wanted);
    // A client reconnecting with what it already holds needs nothing sent (go-control-plane does the same).
    if (first && nonce === '' && req.version_info !== undefined && req.version_info !== '' && req.version_info === version) {
      state.sentVersion = state.ackedVersion = version;
      state.ackedAt = now;
      return;
    }
    this.#send(stream, type, state, snapshot);
  }

  #push(stream: AdsStream): void {
    const snapshot = this.#snapshot(stream);
    if (snapshot === null) return;
    for (const type of PUSH_ORDER) {
      const state = stream.types.get(type);
      if (state === undefined) continue;
      if (versionOf(snapshot.get(type)!, state.names) !== state.sentVersion) this.#send(stream, type, state, snapshot);
    }
  }

  #send(stream: AdsStream, type: TypeUrl, state: TypeState, snapshot: NodeSnapshot): void {
    const resources = snapshot.get(type)!;
    state.sentVersion = versionOf(resources, state.names);
    state.sentNonce = String(++this.#nonce);
    state.sentAt = this.#deps.now();
    stream.call.write({ version_info: state.sentVersion, resources: pick(resources, state.names), type_url: type, nonce: state.sentNonce });
  }

  #snapshot(stream: AdsStream): NodeSnapshot | null {
    try {
      return this.#deps.cache.snapshotFor(stream.node!);
    } catch {
      return null; // logged by the cache; the client keeps what it has
    }
  }
}

function sameNames(a: ReadonlySet<string> | null, b: ReadonlySet<string> | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.size !== b.size) return false;
  for (const n of a) if (!b.has(n)) return false;
  return true;
}
