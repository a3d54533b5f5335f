// Load balancing through the real proxy: consistent hashing keeps a key on one endpoint,
// least request steers away from a slow endpoint, and locality failover prefers the
// proxy's own zone and spills to the next one when it dies.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startProxy, type ProxyProcess } from '../../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../../helpers/upstream.ts';
import type { ClusterStatus } from '../../../proxy/upstream/index.ts';

/** The upstream that answered, by its x-upstream header; fails on anything but a 200. */
async function who(url: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(url, { headers });
  await res.body.dump();
  assert.equal(res.statusCode, 200, `status for ${JSON.stringify(headers)}`);
  return res.headers['x-upstream'] as string;
}

/** For each key: the set of upstreams its `rounds` requests went to. */
async function stickiness(url: string, keys: string[], rounds: number, header: (key: string) => Record<string, string>): Promise<Map<string, Set<string>>> {
  const landed = new Map<string, Set<string>>(keys.map((k) => [k, new Set()]));
  for (let i = 0; i < rounds; i++) {
    // Interleaved, so a key cannot stick merely because nothing else happened in between.
    await Promise.all(keys.map(async (k) => landed.get(k)!.add(await who(url, header(k)))));
  }
  return landed;
}

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
// Which endpoint a key hashes to depends on the endpoints' (random) ports, so five keys land
// on a single endpoint once in about 81 runs. The spread is judged on many more keys, where
// that chance is nil; the five are still the ones checked 30 times each.
const MANY = Array.from({ length: 40 }, (_, i) => `key-${i}`);

describe('consistent hashing', () => {
  let ups: Upstream[];
  let proxy: ProxyProcess;
  let base: string;

  before(async () => {
    ups = await Promise.all(['h1', 'h2', 'h3'].map((n) => startUpstream(n)));
    const endpoints = ups.map((u) => `{ address: 127.0.0.1, port: ${u.port} }`).join(', ');
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes:
  - name: r
    rules:
      - matches: [{ path: { type: PathPrefix, value: /ring } }]
        backendRefs: [{ name: ring }]
      - matches: [{ path: { type: PathPrefix, value: /maglev } }]
        backendRefs: [{ name: mag }]
      - matches: [{ path: { type: PathPrefix, value: /policy } }]
        backendRefs: [{ name: pol }]
backends:
  - name: ring
    loadBalancer: ring-hash
    hashOn: { type: Header, name: x-user }
    endpoints: [${endpoints}]
  - name: mag
    loadBalancer: maglev
    hashOn: { type: Cookie, name: sid }
    endpoints: [${endpoints}]
  - name: pol
    endpoints: [${endpoints}]
policies:
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: LoadBalancingPolicy
    metadata: { name: pol }
    spec: { targetRefs: [{ kind: Backend, name: pol }], type: RingHash, hashOn: { type: Header, name: x-tenant } }
`);
    base = `http://127.0.0.1:${proxy.ports.main}`;
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all((ups ?? []).map((u) => u.close()));
  });

  const cases = [
    { lb: 'ring-hash', on: 'an x-user header', path: '/ring', header: (k: string) => ({ 'x-user': k }) },
    { lb: 'maglev', on: 'a sid cookie', path: '/maglev', header: (k: string) => ({ cookie: `theme=dark; sid=${k}; lang=en` }) },
    { lb: 'a LoadBalancingPolicy (RingHash)', on: 'an x-tenant header', path: '/policy', header: (k: string) => ({ 'x-tenant': k }) },
  ];
  for (const c of cases) {
    test(`${c.lb} on ${c.on} keeps every key on one upstream, and spreads the keys`, async () => {
      const sticky = await stickiness(base + c.path, USERS, 30, c.header);
      for (const [user, where] of sticky) assert.equal(where.size, 1, `${user} went to ${[...where].join(', ')}`);

      const spread = await stickiness(base + c.path, MANY, 1, c.header);
      const used = new Set([...spread.values(), ...sticky.values()].flatMap((s) => [...s]));
      assert.ok(used.size >= 2, `all ${MANY.length + USERS.length} keys on ${[...used].join(', ')}`);
    });
  }

  test('without the hash key, ring-hash still answers (a random point on the ring)', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 2; i++) seen.add(await who(`${base}/ring`));
    assert.ok(seen.size >= 2, 'requests without x-user all went to one upstream');
  });
});

describe('least request (the default balancer)', () => {
  const SLOW_MS = 150;
  let ups: Upstream[];
  let proxy: ProxyProcess;

  before(async () => {
    const slow = await startUpstream('slow', (_req, res) => setTimeout(() => res.writeHead(200, { 'x-upstream': 'slow' }).end('slow'), SLOW_MS));
    ups = [slow, ...(await Promise.all(['fast-1', 'fast-2'].map((n) => startUpstream(n))))];
    proxy = await startProxy(`
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: r, rules: [{ backendRefs: [{ name: pool }] }] }]
backends:
  - name: pool
    endpoints: [${ups.map((u) => `{ address: 127.0.0.1, port: ${u.port} }`).join(', ')}]
`);
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all((ups ?? []).map((u) => u.close()));
  });

  test('sends a slow upstream clearly fewer requests than each fast one', async () => {
    const CLIENTS = 10;
    const PER_CLIENT = 30;
    const counts: Record<string, number> = { slow: 0, 'fast-1': 0, 'fast-2': 0 };
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let i = 0; i < PER_CLIENT; i++) counts[await who(`http://127.0.0.1:${proxy.ports.main}/`)]++;
      }),
    );
    assert.equal(counts.slow + counts['fast-1'] + counts['fast-2'], CLIENTS * PER_CLIENT);
    // Round robin or random would give each about a third; least request keeps requests off
    // the endpoint that holds them longest. A count, not a time: it holds on a slow machine.
    assert.ok(counts.slow < counts['fast-1'] / 2, `slow ${counts.slow} vs fast-1 ${counts['fast-1']}`);
    assert.ok(counts.slow < counts['fast-2'] / 2, `slow ${counts.slow} vs fast-2 ${counts['fast-2']}`);
    assert.ok(counts.slow > 0, 'the slow upstream is still in rotation');
  });
});

/** Three upstreams, two in the proxy's zone a and one in zone b, behind backend `zoned`. */
async function zonedSetup(policies = ''): Promise<{ proxy: ProxyProcess; a1: Upstream; a2: Upstream; b1: Upstream }> {
  const [a1, a2, b1] = await Promise.all(['a-1', 'a-2', 'b-1'].map((n) => startUpstream(n)));
  const proxy = await startProxy(`
node: { zone: a }
listeners: [{ name: main, address: 127.0.0.1, port: 0, protocol: http }]
routes: [{ name: r, rules: [{ backendRefs: [{ name: zoned }] }] }]
backends:
  - name: zoned
    endpoints:
      - { address: 127.0.0.1, port: ${a1.port}, zone: a }
      - { address: 127.0.0.1, port: ${a2.port}, zone: a }
      - { address: 127.0.0.1, port: ${b1.port}, zone: b }
${policies}`);
  return { proxy, a1, a2, b1 };
}

/** `n` sequential GETs: each one's status, details and answering upstream. */
async function outcomes(url: string, n: number, id: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await request(url, { headers: { 'x-request-id': `${id}-${i}` } });
    await res.body.dump();
    out.push(res.statusCode === 200 ? `200 ${res.headers['x-upstream']}` : `${res.statusCode} ${res.headers['x-sluice-details']}`);
  }
  return out;
}

describe('locality failover', () => {
  let z: Awaited<ReturnType<typeof zonedSetup>>;
  let base: string;

  before(async () => {
    z = await zonedSetup();
    base = `http://127.0.0.1:${z.proxy.ports.main}`;
  });
  after(async () => {
    await z?.proxy.stop();
    await Promise.all([z?.a1, z?.a2, z?.b1].map((u) => u?.close()));
  });

  test('/clusters shows each endpoint its zone and priority: 0 for the node zone, 1 for another', async () => {
    const zoned = (await z.proxy.clusters()).find((c) => c.name === 'zoned')!;
    const byPort = new Map(zoned.endpoints.map((e) => [e.port, e]));
    assert.deepEqual(
      [z.a1, z.a2, z.b1].map((u) => ({ zone: byPort.get(u.port)?.zone, priority: byPort.get(u.port)?.priority })),
      [
        { zone: 'a', priority: 0 },
        { zone: 'a', priority: 0 },
        { zone: 'b', priority: 1 },
      ],
    );
  });

  test('sends everything to the node zone while it is healthy', async () => {
    const got = new Set(await outcomes(base, 40, 'healthy'));
    assert.deepEqual([...got].sort(), ['200 a-1', '200 a-2']);
    assert.equal(z.b1.seen.length, 0);
  });

  test('fails over to the other zone when the node zone dies, with no request lost', async () => {
    await Promise.all([z.a1.close(), z.a2.close()]);
    const got = await outcomes(base, 40, 'failover');
    assert.deepEqual(
      got.filter((o) => o !== '200 b-1'),
      [],
      `after zone a died: ${got.join(', ')}`,
    );
  });
});

describe('locality failover once the dead zone is ejected', () => {
  let z: Awaited<ReturnType<typeof zonedSetup>>;
  let base: string;

  before(async () => {
    // Every endpoint may be ejected, so both dead zone-a endpoints leave priority 0.
    z = await zonedSetup(`policies:
  - apiVersion: mesh.sluice.dev/v1alpha1
    kind: CircuitBreakerPolicy
    metadata: { name: eject-all }
    spec:
      targetRefs: [{ kind: Backend, name: zoned }]
      outlierDetection: { maxEjectionPercent: 100 }
`);
    base = `http://127.0.0.1:${z.proxy.ports.main}`;
  });
  after(async () => {
    await z?.proxy.stop();
    await Promise.all([z?.a1, z?.a2, z?.b1].map((u) => u?.close()));
  });

  test('ejects both zone-a endpoints for gateway errors, then sends everything to zone b', async () => {
    assert.deepEqual([...new Set(await outcomes(base, 20, 'before'))].sort(), ['200 a-1', '200 a-2']);
    await Promise.all([z.a1.close(), z.a2.close()]);
    // Each failed request costs zone a three connect failures; five in a row eject an endpoint.
    let zoned: ClusterStatus | undefined;
    const warmup: string[] = [];
    for (let i = 0; i < 30; i++) {
      warmup.push(...(await outcomes(base, 1, `warmup-${i}`)));
      zoned = (await z.proxy.clusters()).find((c) => c.name === 'zoned')!;
      if (zoned.endpoints.filter((e) => e.zone === 'a').every((e) => e.health === 'unhealthy')) break;
    }
    for (const e of zoned!.endpoints.filter((e) => e.zone === 'a')) {
      assert.equal(e.health, 'unhealthy', `after ${warmup.join(', ')}`);
      assert.match(e.healthReason ?? '', /consecutive gateway errors/);
      assert.equal(e.ejections, 1);
    }
    assert.equal(zoned!.endpoints.find((e) => e.zone === 'b')?.health, 'healthy');

    const got = await outcomes(base, 40, 'failover');
    assert.deepEqual([...new Set(got)], ['200 b-1']);
  });
});
