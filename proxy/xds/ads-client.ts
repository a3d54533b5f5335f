// The proxy as an xDS client: one state-of-the-world ADS stream over @grpc/grpc-js. It
// subscribes to every Listener and Cluster, then to what they name; judges each response
// (ads-state.ts), applies what is complete and correct, and ACKs or NACKs it. When the
// stream breaks, the running config stays as it is and a new stream is opened after an
// exponential backoff with full jitter, resubscribing with the versions the proxy holds.

import * as grpc from '@grpc/grpc-js';
import { dialFailure } from '../../xds/dial.ts';
import { adsPackageDefinition, TYPE_URLS } from '../../xds/index.ts';
import type { IdentityFiles, ProxyConfig } from '../config/model.ts';
import type { Logger } from '../http/rescue.ts';
import { decodeResponse, sameTranslation, TYPES, XdsState } from './ads-state.ts';
import type { Pb } from './shape.ts';
import { formatProblem, type Translation } from './translate.ts';

/** Who the proxy is to the control plane (xds/SUBSET.md, "Nodes"). */
export type XdsNode = {
  readonly id: string;
  readonly cluster?: string;
  readonly locality: { readonly zone?: string };
  /** Plain JSON values; sent as a google.protobuf.Struct. */
  readonly metadata: Readonly<Record<string, unknown>>;
};

export type AdsClock = {
  now(): number;
  /** Calls `fn` once after `ms`; the returned function cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
};

export const systemClock: AdsClock = {
  now: Date.now,
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

export type AdsClientDeps = {
  /** host:port of the control plane's ADS server. */
  readonly target: string;
  /**
   * The caller decides TLS (the control plane's port 15012) or plaintext (15010, tests). A
   * function is asked again at each connection attempt, so a renewed client certificate is used.
   */
  readonly credentials: grpc.ChannelCredentials | (() => grpc.ChannelCredentials);
  readonly channelOptions?: grpc.ChannelOptions;
  readonly node: XdsNode;
  /** The proxy's own certificate files (xDS never carries them); null: no mTLS. */
  readonly identity: IdentityFiles | null;
  readonly clock: AdsClock;
  /** [0, 1): the jitter of the reconnect backoff. */
  readonly random: () => number;
  readonly log: Logger;
  /**
   * Makes `config` the running one (ProxyServer.apply); `bundlePem` is the ROOTCA secret
   * to write as the identity's bundle first. Called one at a time, only with a config
   * that differs from the last one applied. A throw (a port in use) NACKs the response.
   */
  apply(config: ProxyConfig, secrets: { readonly bundlePem: string | null }): Promise<void>;
  /** Reconnect backoff: try n waits random() * min(maxMs, baseMs * 2^n). Default 500 ms / 30 s. */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  /**
   * The control plane refused this proxy (its node, its identity) before it ever had a
   * config: trying again says the same, so the caller stops the process and a supervisor's
   * restart policy, or the operator, acts. Without it, such a refusal is retried as a loss.
   * Once a config runs, a refusal is logged and retried: the running config stays.
   */
  readonly refused?: (why: string) => void;
};

/** What the control plane answers a proxy it will not serve, whatever it retries. */
const REFUSALS: ReadonlySet<number> = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED]);

type DiscoveryRequest = {
  node?: Pb;
  version_info: string;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: { code: number; message: string };
};
type DiscoveryResponse = { version_info?: string; resources?: Pb[]; type_url?: string; nonce?: string };
type AdsCall = grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;

/** One stream's own bookkeeping: a nonce belongs to the stream that delivered it. */
type Stream = {
  readonly call: AdsCall;
  readonly client: grpc.Client;
  /** Latest nonce of each type on this stream. */
  readonly nonces: Map<string, string>;
  /** resource_names last sent for each named type, as JSON. */
  readonly subscribed: Map<string, string>;
  nodeSent: boolean;
  delivered: boolean;
  live: boolean;
};

/** google.rpc.Code INVALID_ARGUMENT, what Envoy puts in a NACK's error_detail. */
const INVALID_ARGUMENT = 3;

export class AdsClient {
  #deps: AdsClientDeps;
  #state: XdsState;
  #stream: Stream | null = null;
  #applied: Translation | null = null;
  #attempt = 0;
  /** When the last stream was lost, while no stream has delivered since: for the 'restored' line. */
  #lostAt: number | null = null;
  #cancelTimer: (() => void) | null = null;
  #closed = false;
  #connected = false;
  /** Responses are handled one at a time, in order: apply() is async. */
  #queue: Promise<void> = Promise.resolve();

  constructor(deps: AdsClientDeps) {
    this.#deps = deps;
    this.#state = new XdsState({ ...(deps.node.locality.zone === undefined ? {} : { zone: deps.node.locality.zone }), identity: deps.identity });
  }

  /** Opens the first stream. Call once. */
  start(): void {
    this.#connect();
  }

  /** For the admin server (config_dump, proxy-config): connection, per-type versions and NACK errors, and the accepted resources. */
  status(): { target: string; connected: boolean } & ReturnType<XdsState['snapshot']> {
    return { target: this.#deps.target, connected: this.#connected, ...this.#state.snapshot() };
  }

  /** Ends the stream and any reconnect; resolves once a response being handled is done. The applied config is left alone. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelTimer?.();
    if (this.#stream !== null) this.#end(this.#stream);
    await this.#queue;
  }

  #connect(): void {
    this.#cancelTimer = null;
    if (this.#closed) return;
    const credentials = typeof this.#deps.credentials === 'function' ? this.#deps.credentials() : this.#deps.credentials;
    const client = new (serviceClient())(this.#deps.target, credentials, this.#deps.channelOptions);
    const call = (client as unknown as { StreamAggregatedResources(): AdsCall }).StreamAggregatedResources();
    const stream: Stream = { call, client, nonces: new Map(), subscribed: new Map(), nodeSent: false, delivered: false, live: true };
    this.#stream = stream;
    call.on('data', (res: DiscoveryResponse) => {
      if (!stream.live) return;
      if (!stream.delivered && this.#lostAt !== null) {
        this.#deps.log('info', 'xDS stream restored', { target: this.#deps.target, lost_for_ms: Math.max(0, this.#deps.clock.now() - this.#lostAt) });
        this.#lostAt = null;
      }
      stream.delivered = true;
      this.#connected = true;
      this.#queue = this.#queue.then(() => this.#handle(stream, res)).catch((err) => this.#deps.log('error', 'xDS response handling failed', { error: String(err) }));
    });
    call.on('error', (err: grpc.ServiceError) => {
      const details = err.details || err.message;
      const permanent = REFUSALS.has(err.code) ? details : err.code === grpc.status.UNAVAILABLE ? dialFailure(details, this.#deps.target) : null;
      if (permanent !== null && this.#applied === null && this.#deps.refused !== undefined && stream.live) {
        this.#end(stream);
        this.#closed = true;
        this.#deps.refused(permanent);
        return;
      }
      this.#lost(stream, err.details || err.message);
    });
    call.on('end', () => this.#lost(stream, 'the control plane ended the stream'));
    // Tell the server what the proxy already holds, so an unchanged state is not re-sent as new.
    for (const t of TYPES) {
      const names = this.#state.names(t);
      if (isWildcard(t) || names.length > 0) this.#subscribe(stream, t, names, '');
    }
  }

  async #handle(stream: Stream, res: DiscoveryResponse): Promise<void> {
    const typeUrl = res.type_url ?? '';
    const nonce = res.nonce ?? '';
    stream.nonces.set(typeUrl, nonce);
    if (!(TYPES as readonly string[]).includes(typeUrl)) {
      this.#send(stream, { version_info: '', resource_names: [], type_url: typeUrl, response_nonce: nonce, error_detail: { code: INVALID_ARGUMENT, message: `a Sluice proxy does not subscribe to ${typeUrl}` } });
      return;
    }
    const { verdict, candidate, ignored } = this.#state.judge(decodeResponse(typeUrl, res.resources ?? []));
    if (ignored.length > 0) this.#deps.log('info', 'xDS resources not subscribed to are dropped', { type: typeUrl, names: ignored });
    let error: string | null = verdict.kind === 'nack' ? verdict.problems.map(formatProblem).join('\n') : null;
    if (verdict.kind === 'apply' && !sameTranslation(this.#applied, verdict.translation)) {
      const { config, bundlePem } = verdict.translation;
      try {
        await this.#deps.apply(config, { bundlePem });
        this.#applied = verdict.translation;
        this.#deps.log('info', 'xDS config applied', { type: typeUrl, version: res.version_info ?? '', listeners: config.listeners.length, backends: config.backends.length });
      } catch (err) {
        error = `the proxy could not apply the config: ${(err as Error).message}`;
      }
    }
    if (error === null) {
      this.#state.accept(typeUrl, candidate, res.version_info ?? '', nonce, verdict.kind === 'hold' ? verdict.why : [], this.#deps.clock.now());
      if (verdict.kind === 'hold') this.#deps.log('info', 'xDS config held until complete', { type: typeUrl, why: verdict.why });
    } else {
      this.#state.reject(typeUrl, nonce, error, this.#deps.clock.now());
      this.#deps.log('warn', 'xDS response rejected (NACK); the running config stays', { type: typeUrl, version: res.version_info ?? '', problems: error.split('\n') });
    }
    const detail = error === null ? {} : { error_detail: { code: INVALID_ARGUMENT, message: error } };
    this.#send(stream, { version_info: this.#state.typeState(typeUrl).version, resource_names: this.#state.names(typeUrl), type_url: typeUrl, response_nonce: nonce, ...detail });
    if (!isWildcard(typeUrl)) stream.subscribed.set(typeUrl, JSON.stringify(this.#state.names(typeUrl)));
    // What the accepted listeners and clusters name may have changed: update those subscriptions.
    for (const t of TYPES) {
      if (isWildcard(t) || t === typeUrl) continue;
      const names = this.#state.names(t);
      const sent = stream.subscribed.get(t);
      if (sent === undefined ? names.length > 0 : sent !== JSON.stringify(names)) this.#subscribe(stream, t, names, stream.nonces.get(t) ?? '');
    }
  }

  /** A request for `names` of type `t`, carrying the version held and the latest nonce of that type on this stream. */
  #subscribe(stream: Stream, t: string, names: string[], nonce: string): void {
    if (!isWildcard(t)) stream.subscribed.set(t, JSON.stringify(names));
    this.#send(stream, { version_info: this.#state.typeState(t).version, resource_names: names, type_url: t, response_nonce: nonce });
  }

  #send(stream: Stream, req: DiscoveryRequest): void {
    if (!stream.live) return;
    if (!stream.nodeSent) {
      req.node = nodeMessage(this.#deps.node);
      stream.nodeSent = true;
    }
    stream.call.write(req);
  }

  #lost(stream: Stream, why: string): void {
    if (!stream.live) return;
    this.#end(stream);
    if (this.#closed) return;
    // A stream that delivered something was healthy: the next wait starts from the base again.
    if (stream.delivered) this.#attempt = 0;
    const { baseMs, maxMs } = this.#deps.backoff ?? { baseMs: 500, maxMs: 30_000 };
    const delay = Math.floor(this.#deps.random() * Math.min(maxMs, baseMs * 2 ** this.#attempt));
    this.#attempt = Math.min(this.#attempt + 1, 32);
    this.#lostAt ??= this.#deps.clock.now();
    this.#deps.log('warn', 'xDS stream lost; the running config stays', { target: this.#deps.target, why, retryInMs: delay });
    this.#cancelTimer = this.#deps.clock.setTimer(() => this.#connect(), delay);
  }

  #end(stream: Stream): void {
    stream.live = false;
    this.#connected = false;
    stream.call.cancel();
    stream.client.close();
  }
}

function isWildcard(t: string): boolean {
  return t === TYPE_URLS.Listener || t === TYPE_URLS.Cluster;
}

let constructor: grpc.ServiceClientConstructor | undefined;

function serviceClient(): grpc.ServiceClientConstructor {
  if (constructor !== undefined) return constructor;
  let o: unknown = grpc.loadPackageDefinition(adsPackageDefinition());
  for (const part of 'envoy.service.discovery.v3.AggregatedDiscoveryService'.split('.')) o = (o as Record<string, unknown>)[part];
  constructor = o as grpc.ServiceClientConstructor;
  return constructor;
}

/**
 * The node as proto-loader encodes it: metadata as a google.protobuf.Struct, whose fields
 * are camelCase even under keepCase (protobufjs defines the well-known types itself).
 */
function nodeMessage(node: XdsNode): Pb {
  return {
    id: node.id,
    ...(node.cluster === undefined ? {} : { cluster: node.cluster }),
    locality: node.locality.zone === undefined ? {} : { zone: node.locality.zone },
    metadata: { fields: Object.fromEntries(Object.entries(node.metadata).map(([k, v]) => [k, structValue(v)])) },
    user_agent_name: 'sluice-proxy',
  };
}

function structValue(v: unknown): Pb {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(structValue) } };
  return { structValue: { fields: Object.fromEntries(Object.entries(v as Pb).map(([k, x]) => [k, structValue(x)])) } };
}
