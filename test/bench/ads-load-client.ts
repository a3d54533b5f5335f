// A child process of the xDS push bench (xds-push.ts) holding many simulated Sluice proxies,
// each its own ADS stream as xds/SUBSET.md's "Nodes" says a proxy identifies itself. Each
// subscribes to Cluster and Listener (wildcard), then to the RouteConfigurations its
// listeners name, the ClusterLoadAssignments of its EDS clusters and ROOTCA when anything
// uses TLS, as proxy/xds does, and ACKs every response with its version and nonce.
// Streams share gRPC channels (STREAMS_PER_CHANNEL each, a local subchannel pool per
// channel, so each channel is its own TCP connection).
//
// Driven over IPC by xds-fleet.ts: `connect` -> `synced`; `arm` (a type) -> `pushed`, with
// the epoch time (ms) each stream ACKed the first response of that type with a new version;
// `sample` -> the raw responses stream 0 last got; `stop`. Every wait here is bounded.

import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { TYPE_URLS, unpack } from '../../xds/index.ts';
import { struct } from '../control-plane/xds/ads-stream.ts';
import { clusterNameAndEds, rawAdsService, scanResponse, type RawResponse } from './ads-wire.ts';

export type SimNode = { readonly id: string; readonly outboundPort: number; readonly appPorts: Readonly<Record<string, number>> };

export type ClientCommand =
  | { readonly cmd: 'connect'; readonly address: string; readonly nodes: readonly SimNode[]; readonly streamsPerChannel: number; readonly timeoutMs: number }
  | { readonly cmd: 'arm'; readonly typeUrl: string; readonly timeoutMs: number }
  | { readonly cmd: 'sample' }
  | { readonly cmd: 'stop' };

export type ClientEvent =
  | { readonly ev: 'ready' }
  /** Per stream, the epoch ms it finished its initial sync (null: it did not, in time). */
  | { readonly ev: 'synced'; readonly at: (number | null)[]; readonly failures: string[]; readonly channels: number; readonly cpuMs: number }
  | { readonly ev: 'armed' }
  /** Per stream, the epoch ms of its ACK of the changed type; responses of each type seen in the window. */
  | { readonly ev: 'pushed'; readonly at: (number | null)[]; readonly responses: Record<string, number>; readonly cpuMs: number; readonly failures: string[] }
  | { readonly ev: 'sample'; readonly responses: Record<string, string> };

const { Listener: LDS, RouteConfiguration: RDS, Cluster: CDS, ClusterLoadAssignment: EDS, Secret: SDS } = TYPE_URLS;
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const now = () => performance.timeOrigin + performance.now();

type TypeState = { names: string[] | null; sent: string; version: string; nonce: string; received: boolean; pending: boolean };
type Sim = {
  readonly node: SimNode;
  readonly call: grpc.ClientDuplexStream<Record<string, unknown>, Buffer>;
  readonly types: Map<string, TypeState>;
  syncedAt: number | null;
  failed: string | null;
  armed: string | null;
  pushedAt: number | null;
};

type Call = (this: grpc.Client) => grpc.ClientDuplexStream<Record<string, unknown>, Buffer>;
const AdsClient = grpc.makeGenericClientConstructor(rawAdsService(), 'AggregatedDiscoveryService') as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions,
) => grpc.Client & { StreamAggregatedResources: Call };

const sims: Sim[] = [];
const channels: grpc.Client[] = [];
let sampled = new Map<string, Buffer>();
let onProgress: () => void = () => {};
let window: { typeUrl: string; responses: Record<string, number>; cpu: NodeJS.CpuUsage } | null = null;

function send(e: ClientEvent): void {
  process.send!(e);
}

function open(node: SimNode, channel: grpc.Client & { StreamAggregatedResources: Call }, index: number): Sim {
  const call = channel.StreamAggregatedResources();
  const fresh = (names: string[] | null): TypeState => ({ names, sent: '', version: '', nonce: '', received: false, pending: false });
  const sim: Sim = {
    node,
    call,
    types: new Map([[CDS, fresh(null)], [LDS, fresh(null)], [RDS, fresh([])], [EDS, fresh([])], [SDS, fresh([])]]),
    syncedAt: null,
    failed: null,
    armed: null,
    pushedAt: null,
  };
  const fail = (why: string) => {
    if (sim.failed !== null) return;
    sim.failed = why;
    onProgress();
  };
  call.on('data', (b: Buffer) => {
    try {
      onResponse(sim, scanResponse(b), index === 0 ? b : null);
    } catch (err) {
      fail(`response not understood: ${(err as Error).message}`);
      call.cancel();
    }
  });
  call.on('error', (err: grpc.ServiceError) => fail(`${grpc.status[err.code] ?? err.code}: ${err.details}`));
  call.on('end', () => fail('the server ended the stream'));
  const metadata = struct({ 'sluice.dev/proxy': 'sluice-proxy', 'sluice.dev/outbound-port': node.outboundPort, 'sluice.dev/app-ports': node.appPorts });
  call.write({ node: { id: node.id, metadata }, type_url: CDS, resource_names: [] });
  call.write({ type_url: LDS, resource_names: [] });
  sim.types.get(CDS)!.pending = sim.types.get(LDS)!.pending = true;
  return sim;
}

function onResponse(sim: Sim, r: RawResponse, raw: Buffer | null): void {
  const st = sim.types.get(r.typeUrl);
  if (st === undefined) throw new Error(`a response of ${r.typeUrl}, which was not subscribed to`);
  if (raw !== null) sampled.set(r.typeUrl, raw);
  st.version = r.version;
  st.nonce = r.nonce;
  st.received = true;
  st.pending = false;
  if (r.typeUrl === LDS) {
    const { routes, tls } = listenerNeeds(r.resources);
    sim.types.get(RDS)!.names = routes;
    sim.types.get(SDS)!.names = tls ? ['ROOTCA'] : [];
  } else if (r.typeUrl === CDS) {
    sim.types.get(EDS)!.names = r.resources.map(clusterNameAndEds).filter((c) => c.eds).map((c) => c.name);
  }
  sim.call.write({ type_url: r.typeUrl, version_info: r.version, response_nonce: r.nonce, resource_names: st.names ?? [] });
  if (window !== null) {
    window.responses[r.typeUrl] = (window.responses[r.typeUrl] ?? 0) + 1;
    if (r.typeUrl === window.typeUrl && sim.pushedAt === null && sim.armed !== null && r.version !== sim.armed) sim.pushedAt = now();
  }
  // What the wildcard types name: subscribe to it (a proxy never subscribes to none of a named type).
  for (const t of [RDS, EDS, SDS]) {
    const s = sim.types.get(t)!;
    const key = JSON.stringify(s.names);
    if (s.names!.length === 0 || key === s.sent) continue;
    s.sent = key;
    s.pending = true;
    sim.call.write({ type_url: t, resource_names: s.names, version_info: s.version, response_nonce: s.nonce });
  }
  if (sim.syncedAt === null && [...sim.types.values()].every((s) => !s.pending && (s.received || s.names?.length === 0))) sim.syncedAt = now();
  onProgress();
}

const listenerCache = new Map<string, { routes: string[]; tls: boolean }>();

/** The route configs a proxy's listeners name over RDS, and whether any filter chain uses TLS. */
function listenerNeeds(resources: readonly Buffer[]): { routes: string[]; tls: boolean } {
  const routes = new Set<string>();
  let tls = false;
  for (const value of resources) {
    // The outbound listener is the same bytes for every proxy: decoded once.
    const key = value.length < 4096 ? value.toString('latin1') : '';
    let needs = listenerCache.get(key);
    if (needs === undefined) {
      const u = unpack<{ filter_chains?: { transport_socket?: unknown; filters?: { typed_config?: { type_url: string; value: Buffer } }[] }[] }>({ type_url: LDS, value });
      if (!u.ok) throw new Error(u.error);
      needs = { routes: [], tls: false };
      for (const chain of u.value.filter_chains ?? []) {
        if (chain.transport_socket !== undefined) needs.tls = true;
        for (const f of chain.filters ?? []) {
          if (f.typed_config?.type_url !== HCM) continue;
          const hcm = unpack<{ rds?: { route_config_name?: string } }>(f.typed_config);
          if (hcm.ok && hcm.value.rds?.route_config_name) needs.routes.push(hcm.value.rds.route_config_name);
        }
      }
      if (key !== '' && listenerCache.size < 100_000) listenerCache.set(key, needs);
    }
    for (const n of needs.routes) routes.add(n);
    tls ||= needs.tls;
  }
  return { routes: [...routes].sort(), tls };
}

/** Resolves when `done()` holds or after `ms`, re-checked on every response and failure. */
function until(done: () => boolean, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      onProgress = () => {};
      resolve();
    };
    const timer = setTimeout(finish, ms);
    onProgress = () => {
      if (done()) finish();
    };
    onProgress();
  });
}

const cpuMs = (since?: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};
const failures = () => sims.filter((s) => s.failed !== null).map((s) => `${s.node.id}: ${s.failed}`);

async function handle(c: ClientCommand): Promise<void> {
  if (c.cmd === 'connect') {
    const cpu = process.cpuUsage();
    let channel: (grpc.Client & { StreamAggregatedResources: Call }) | undefined;
    for (let i = 0; i < c.nodes.length; i++) {
      if (i % c.streamsPerChannel === 0) {
        channel = new AdsClient(c.address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': 64 << 20 });
        channels.push(channel);
      }
      sims.push(open(c.nodes[i], channel!, i));
      // Let responses in between batches, as proxies starting over a few seconds would.
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    await until(() => sims.every((s) => s.syncedAt !== null || s.failed !== null), c.timeoutMs);
    send({ ev: 'synced', at: sims.map((s) => s.syncedAt), failures: failures(), channels: channels.length, cpuMs: cpuMs(cpu) });
  } else if (c.cmd === 'arm') {
    for (const s of sims) {
      s.armed = s.types.get(c.typeUrl)!.version;
      s.pushedAt = null;
    }
    window = { typeUrl: c.typeUrl, responses: {}, cpu: process.cpuUsage() };
    send({ ev: 'armed' });
    await until(() => sims.every((s) => s.pushedAt !== null || s.failed !== null), c.timeoutMs);
    const w = window;
    window = null;
    send({ ev: 'pushed', at: sims.map((s) => s.pushedAt), responses: w.responses, cpuMs: cpuMs(w.cpu), failures: failures() });
  } else if (c.cmd === 'sample') {
    send({ ev: 'sample', responses: Object.fromEntries([...sampled].map(([t, b]) => [t, b.toString('base64')])) });
  } else {
    for (const s of sims) s.call.cancel();
    for (const ch of channels) ch.close();
    sampled = new Map();
    setTimeout(() => process.exit(0), 200);
  }
}

if (import.meta.main) {
  process.on('message', (c: ClientCommand) => {
    handle(c).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  });
  process.on('disconnect', () => process.exit(0));
  send({ ev: 'ready' });
}
