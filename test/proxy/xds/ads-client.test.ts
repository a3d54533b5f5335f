// The proxy's ADS client against a small real ADS server (@grpc/grpc-js on 127.0.0.1:0)
// that the test scripts: it records every request and sends only the responses a test
// pushes. Each test ends by checking that every response was answered exactly once.

import assert from 'node:assert/strict';
import { createServer, type Server as NetServer } from 'node:net';
import { after, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { ProxyConfig } from '../../../proxy/config/model.ts';
import { ProxyServer } from '../../../proxy/server.ts';
import { AdsClient, systemClock, type AdsClock } from '../../../proxy/xds/ads-client.ts';
import { adsPackageDefinition, TYPE_URLS } from '../../../xds/index.ts';
import { assignment, cluster, hcm, listener, locality, packed, rootCa, ROOT_PEM, route, routeConfig } from './resources.ts';

const { Listener: L, Cluster: C, RouteConfiguration: R, ClusterLoadAssignment: E, Secret: S } = TYPE_URLS;
const IDENTITY = { cert: '/id/cert.pem', key: '/id/key.pem', bundle: '/id/bundle.pem' };
const SPIFFE = 'spiffe://mesh.local/ns/shop/sa/orders';

type Req = { node?: { id: string; metadata?: unknown }; version_info?: string; resource_names?: string[]; type_url: string; response_nonce?: string; error_detail?: { code: number; message: string } };

/** An ADS server that answers nothing by itself: `push` sends a response on the latest stream. */
class ScriptedAds {
  readonly requests: Req[] = [];
  readonly pushed: string[] = [];
  port = 0;
  #server = new grpc.Server();
  #calls: grpc.ServerDuplexStream<Req, unknown>[] = [];
  #waiters: (() => void)[] = [];
  #nonce = 0;

  static async start(port = 0): Promise<ScriptedAds> {
    const ads = new ScriptedAds();
    let o: unknown = grpc.loadPackageDefinition(adsPackageDefinition());
    for (const part of 'envoy.service.discovery.v3.AggregatedDiscoveryService'.split('.')) o = (o as Record<string, unknown>)[part];
    ads.#server.addService((o as grpc.ServiceClientConstructor).service, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Req, unknown>) => {
        ads.#calls.push(call);
        call.on('data', (req: Req) => {
          ads.requests.push(req);
          for (const w of ads.#waiters.splice(0)) w();
        });
        call.on('error', () => {});
        call.on('end', () => call.end());
      },
    });
    ads.port = await new Promise<number>((resolve, reject) => ads.#server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    return ads;
  }

  /** Index to search requests from: only those arriving after this call. */
  mark(): number {
    return this.requests.length;
  }

  push(typeUrl: string, version: string, resources: Record<string, unknown>[]): string {
    const nonce = `n${++this.#nonce}`;
    this.pushed.push(nonce);
    this.#calls.at(-1)!.write({ version_info: version, type_url: typeUrl, nonce, resources: resources.map((r) => packed(typeUrl, r)) });
    return nonce;
  }

  async waitFor(pred: (r: Req) => boolean, from = 0): Promise<Req> {
    for (;;) {
      const found = this.requests.slice(from).find(pred);
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** The request answering `nonce` (after it was pushed). */
  answer(nonce: string, from = 0): Promise<Req> {
    return this.waitFor((r) => r.response_nonce === nonce, from);
  }

  /** Ends the latest stream with a gRPC error, as the control plane refuses a node. */
  refuse(code: grpc.status, details: string): void {
    this.#calls.at(-1)!.emit('error', { code, details });
  }

  stop(): void {
    this.#server.forceShutdown();
  }
}

/** A response is answered by the first request carrying its nonce; a later one may only change the subscription. */
function assertAnsweredOnce(ads: ScriptedAds): void {
  for (const nonce of ads.pushed) {
    const carrying = ads.requests.filter((r) => r.response_nonce === nonce);
    assert.ok(carrying.length >= 1, `response ${nonce} was never answered`);
    for (const later of carrying.slice(1)) {
      const before = ads.requests.slice(0, ads.requests.indexOf(later)).filter((r) => r.type_url === later.type_url).at(-1)!;
      assert.notDeepEqual(later.resource_names ?? [], before.resource_names ?? [], `a second request for ${nonce} that changes no subscription`);
      assert.equal(later.error_detail, undefined, `a second answer to ${nonce}`);
    }
  }
}

const edsCluster = () => cluster('orders', { tls: { sans: [SPIFFE] } });
const WORLD = {
  clusters: [edsCluster()],
  endpoints: [assignment('orders', [locality('z1', [['10.0.0.1', 8080]])])],
  secrets: [rootCa()],
  listeners: [listener('web')],
  routes: [routeConfig('web', [{ name: 'orders', domains: ['*'], routes: [route({ prefix: '' }, { cluster: 'orders', timeout: {} })] }])],
};

type Setup = { ads: ScriptedAds; client: AdsClient; applied: { config: ProxyConfig; bundlePem: string | null }[]; logs: string[] };
const open: (() => void)[] = [];
after(() => open.forEach((f) => f()));

/** The real clock, recording each reconnect wait the client asks for. */
const recording = (waits: number[]): AdsClock => ({ now: Date.now, setTimer: (fn, ms) => (waits.push(ms), systemClock.setTimer(fn, ms)) });

function startClient(port: number, apply?: (config: ProxyConfig) => Promise<void>, clock: AdsClock = systemClock, refused?: (why: string) => void): Omit<Setup, 'ads'> {
  const applied: Setup['applied'] = [];
  const logs: string[] = [];
  const client = new AdsClient({
    target: `127.0.0.1:${port}`,
    credentials: grpc.credentials.createInsecure(),
    node: { id: 'orders-1.shop', locality: { zone: 'z1' }, metadata: { 'sluice.dev/proxy': 'sluice-proxy', 'sluice.dev/outbound-port': 15001, 'sluice.dev/app-ports': { http: 8080 } } },
    identity: IDENTITY,
    clock,
    random: () => 0.5,
    log: (level, msg) => logs.push(`${level} ${msg}`),
    backoff: { baseMs: 20, maxMs: 100 },
    ...(refused === undefined ? {} : { refused }),
    apply: async (config, secrets) => {
      await apply?.(config);
      applied.push({ config, bundlePem: secrets.bundlePem });
    },
  });
  client.start();
  open.push(() => void client.close());
  return { client, applied, logs };
}

/** Takes a fresh client through the whole first exchange, checking each step; ends with one config applied. */
async function bootstrap(apply?: (config: ProxyConfig) => Promise<void>, clock?: AdsClock, refused?: (why: string) => void): Promise<Setup> {
  const ads = await ScriptedAds.start();
  open.push(() => ads.stop());
  const setup = { ads, ...startClient(ads.port, apply, clock, refused) };
  const { applied } = setup;
  const first = await ads.waitFor(() => true);
  const cds = await ads.waitFor((r) => r.type_url === C);
  const lds = await ads.waitFor((r) => r.type_url === L);
  assert.equal(first.node?.id, 'orders-1.shop', 'the node rides on the first request');
  assert.deepEqual([cds.resource_names ?? [], lds.resource_names ?? [], cds.response_nonce ?? ''], [[], [], ''], 'Listener and Cluster by wildcard');

  // Clusters first: they name their load assignment and, for mTLS, the trust bundle.
  let m = ads.mark();
  const n1 = ads.push(C, 'c1', WORLD.clusters);
  assert.deepEqual(pick(await ads.answer(n1, m)), { version_info: 'c1', resource_names: [], error_detail: undefined });
  assert.deepEqual((await ads.waitFor((r) => r.type_url === E, m)).resource_names, ['orders']);
  assert.deepEqual((await ads.waitFor((r) => r.type_url === S, m)).resource_names, ['ROOTCA']);
  await ads.answer(ads.push(E, 'e1', WORLD.endpoints));
  await ads.answer(ads.push(S, 's1', WORLD.secrets));
  assert.equal(applied.length, 0, 'no listeners yet: nothing to apply');

  m = ads.mark();
  const n2 = ads.push(L, 'l1', WORLD.listeners);
  assert.equal((await ads.answer(n2, m)).version_info, 'l1');
  assert.deepEqual((await ads.waitFor((r) => r.type_url === R, m)).resource_names, ['web']);
  assert.equal(applied.length, 0, 'the listener warms until its routes arrive');

  const n3 = ads.push(R, 'r1', WORLD.routes);
  assert.equal((await ads.answer(n3)).version_info, 'r1');
  assert.equal(applied.length, 1);
  return setup;
}

function pick(r: Req) {
  return { version_info: r.version_info, resource_names: r.resource_names ?? [], error_detail: r.error_detail };
}

describe('the ADS client', { timeout: 10_000 }, () => {
  test('subscribes by wildcard, then to what listeners and clusters name, and applies once the config is complete', async () => {
    const { ads, client, applied } = await bootstrap();
    const { config, bundlePem } = applied[0];
    assert.deepEqual([config.listeners.map((l) => l.name), config.routes.map((r) => r.parentRefs), config.backends.map((b) => b.endpoints.length)], [['web'], [['web']], [1]]);
    assert.deepEqual([config.node, config.identity, bundlePem], [{ zone: 'z1' }, IDENTITY, ROOT_PEM]);
    const status = client.status();
    assert.equal(status.connected, true);
    assert.deepEqual(
      Object.values(status.types).map((t) => [t.version, t.error]),
      [['c1', null], ['e1', null], ['l1', null], ['r1', null], ['s1', null]],
    );
    assert.equal((status.resources.Listener.web as { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }).filter_chains[0].filters[0].typed_config['@type'], 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    assertAnsweredOnce(ads);
  });

  test('a bad resource is NACKed with every problem, and the previous config stays', async () => {
    const { ads, client, applied } = await bootstrap();
    const m = ads.mark();
    const bad = ads.push(C, 'c2', [cluster('orders', { lb: 'RANDOM', tls: { sans: [SPIFFE] }, extra: { outlier_detection: { failure_percentage_threshold: { value: 85 }, always_eject_one_host: { value: true } } } })]);
    const nack = await ads.answer(bad, m);
    assert.deepEqual([nack.version_info, nack.error_detail?.code], ['c1', 3]);
    assert.deepEqual(nack.error_detail?.message.split('\n').map((l) => l.split(': ').slice(0, 2).join(': ')), ['Cluster orders: lb_policy', 'Cluster orders: outlier_detection.failure_percentage_threshold']);
    assert.equal(applied.length, 1, 'apply is not called');
    assert.deepEqual([client.status().types.Cluster.version, client.status().types.Cluster.error], ['c1', nack.error_detail?.message]);
    assert.ok(!ads.requests.slice(m).some((r) => r.type_url === E), 'the subscriptions stay those of the accepted clusters');

    const good = ads.push(C, 'c3', [cluster('orders', { lb: 'LEAST_REQUEST', tls: { sans: [SPIFFE] } })]);
    assert.deepEqual(pick(await ads.answer(good, m)), { version_info: 'c3', resource_names: [], error_detail: undefined });
    assert.deepEqual([applied.length, applied[1].config.backends[0].loadBalancer, client.status().types.Cluster.error], [2, 'least-request', null]);
    assertAnsweredOnce(ads);
  });

  test('apply() throwing (a port in use) is a NACK with its message; the running listeners stay', async () => {
    const taken: NetServer = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const server = new ProxyServer({ log: () => {}, observe: () => {}, onRefused: () => {}, onConnection: () => {}, onTcpBytes: () => {}, random: Math.random, now: Date.now, svid: () => null });
    open.push(() => void server.drain(0), () => taken.close());
    const { ads, client, applied } = await bootstrap((config) => server.apply(config));
    const before = server.ports();

    const m = ads.mark();
    const n = ads.push(L, 'l2', [listener('web'), listener('api', { port, filter: hcm({ rds: 'web' }) })]);
    const nack = await ads.answer(n, m);
    assert.equal(nack.version_info, 'l1');
    assert.match(nack.error_detail?.message ?? '', /could not apply the config: .*EADDRINUSE/);
    assert.deepEqual([applied.length, server.ports(), client.status().types.Listener.version], [1, before, 'l1']);
    assert.ok(!ads.requests.slice(m).some((r) => r.type_url === R), 'no subscription to the rejected listener\'s routes');
    assertAnsweredOnce(ads);
  });

  test('a cluster update that strands a route is ACKed and held until the routes follow', async () => {
    const { ads, client, applied } = await bootstrap();
    let m = ads.mark();
    const n = ads.push(C, 'c2', [cluster('stock', { eds: false, endpoints: [locality('', [['10.0.9.9', 9000]])] })]);
    assert.deepEqual(pick(await ads.answer(n, m)), { version_info: 'c2', resource_names: [], error_detail: undefined });
    const unsubscribe = await ads.waitFor((r) => r.type_url === E, m);
    assert.deepEqual([unsubscribe.resource_names ?? [], unsubscribe.version_info, unsubscribe.response_nonce], [[], 'e1', ads.pushed[1]]);
    assert.equal(applied.length, 1, 'held: the accepted routes name the removed cluster');
    assert.match(client.status().held.join('\n'), /RouteConfiguration web: .*no Cluster 'orders'/);

    m = ads.mark();
    await ads.answer(ads.push(R, 'r2', [routeConfig('web', [{ name: 'stock', domains: ['*'], routes: [route({ prefix: '' }, { cluster: 'stock' })] }])]), m);
    assert.deepEqual([applied.length, applied[1].config.backends.map((b) => b.name), applied[1].bundlePem, client.status().held], [2, ['stock'], null, []]);
    assertAnsweredOnce(ads);
  });

  test('a refusal before any config ran (a node the control plane will not serve) is handed to refused(), once, and not retried', async () => {
    const ads = await ScriptedAds.start();
    open.push(() => ads.stop());
    const why: string[] = [];
    const waits: number[] = [];
    const { logs } = startClient(ads.port, undefined, recording(waits), (w) => why.push(w));
    await ads.waitFor(() => true);
    ads.refuse(grpc.status.PERMISSION_DENIED, "there is no Workload 'orders-1' in namespace 'shop'");
    while (why.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(why, ["there is no Workload 'orders-1' in namespace 'shop'"]);
    assert.deepEqual(waits, [], 'no reconnect');
    assert.ok(!logs.some((l) => l.includes('stream lost')));
  });

  test('once a config runs, a refusal is a loss like any other: logged, retried, the config stays', async () => {
    const why: string[] = [];
    const waits: number[] = [];
    const { ads, applied } = await bootstrap(undefined, recording(waits), (w) => why.push(w));
    ads.refuse(grpc.status.PERMISSION_DENIED, 'not today');
    while (waits.length === 0) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(why, []);
    assert.equal(applied.length, 1);
  });

  test('after the control plane restarts, the client resubscribes with the versions it holds and keeps the config', async () => {
    const waits: number[] = [];
    const { ads, client, applied, logs } = await bootstrap(undefined, recording(waits));
    ads.stop();
    // Down: each failed stream waits random() * min(max, base * 2^n) = 0.5 * min(100, 20 * 2^n) ms.
    while (waits.length < 4) await new Promise((r) => setTimeout(r, 5));
    assert.equal(client.status().connected, false);
    assert.deepEqual(waits.slice(0, 4), [10, 20, 40, 50]);
    assert.equal(applied.length, 1, 'losing the stream changes nothing that runs');

    const again = await ScriptedAds.start(ads.port);
    open.push(() => again.stop());
    const byType = new Map<string, Req>();
    for (const t of [C, E, L, R, S]) byType.set(t, await again.waitFor((r) => r.type_url === t));
    assert.equal(again.requests[0].node?.id, 'orders-1.shop');
    assert.deepEqual(
      [C, E, L, R, S].map((t) => [byType.get(t)!.version_info, byType.get(t)!.resource_names ?? [], byType.get(t)!.response_nonce ?? '']),
      [['c1', [], ''], ['e1', ['orders'], ''], ['l1', [], ''], ['r1', ['web'], ''], ['s1', ['ROOTCA'], '']],
    );
    for (const [t, list] of [[C, WORLD.clusters], [E, WORLD.endpoints], [S, WORLD.secrets], [L, WORLD.listeners], [R, WORLD.routes]] as const) {
      const v = byType.get(t)!.version_info ?? '';
      assert.equal((await again.answer(again.push(t, v, list))).error_detail, undefined);
    }
    // Documented choice: a state that translates to the running config is ACKed, not re-applied.
    assert.equal(applied.length, 1);
    assert.equal(logs.filter((l) => l === 'info xDS stream restored').length, 1, 'the loss was logged, and so is the reconnection');
    assert.equal(client.status().connected, true);
    assertAnsweredOnce(again);

    // A stream that delivered responses was healthy: the backoff starts over.
    const before = waits.length;
    again.stop();
    while (waits.length === before) await new Promise((r) => setTimeout(r, 5));
    assert.equal(waits[before], 10);
  });
});
