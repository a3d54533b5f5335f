// The mesh's metrics as an operator reads them: a real Prometheus scrapes two joined proxies
// (caller app -> caller's proxy -> mTLS -> the Service's proxy -> app) and the control plane,
// and answers the queries a dashboard or a Flagger/Argo Rollouts template asks: the success
// rate and the p99 per destination_service, from both reporters, and the control plane's own.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { prometheusMissing, startPrometheus, type Prometheus, type Sample } from '../helpers/prometheus.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { sluicectl } from '../control-plane/cli/harness.ts';

const missing = prometheusMissing();
if (missing !== null) console.log(`# skipped: ${missing}`);

const HOST = 'api.default.svc.cluster.local';
const TD = 'metrics.sluice.dev';
const dir = mkdtempSync(join(tmpdir(), 'sluice-prometheus-e2e-'));
let cp: ControlPlaneProcess;
let app: Upstream;
let caller: ProxyProcess;
let server: ProxyProcess;
let prom: Prometheus;
let outbound: number;

const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: { SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile }, stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

function call(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path, headers: { host: HOST }, agent: false, signal: AbortSignal.timeout(15_000) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const byService = (samples: Sample[]) => Object.fromEntries(samples.map((s) => [s.metric.destination_service, s.value]));

before(async () => {
  if (missing !== null) return;
  // /ok answers 200 at once; /fail answers 503 after 60 ms, so the slowest requests are the failures.
  app = await startUpstream('api', (req, res) => {
    if (req.url === '/fail') setTimeout(() => res.writeHead(503, { 'content-type': 'text/plain' }).end('busy'), 60);
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--trust-domain', TD] });
  const workloadPort = await closedPort();
  outbound = await closedPort();
  await ctl(['apply', '-f', '-'], [
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: ${TD}, mtls: { mode: STRICT } }\n`,
    'apiVersion: v1\nkind: Service\nmetadata: { name: api }\nspec: { selector: { app: api }, ports: [{ name: http, port: 80 }] }\n',
    `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: api-1, labels: { app: api } }\nspec: { address: 127.0.0.1, ports: { http: ${workloadPort} }, serviceAccount: api, zone: dc-1 }\n`,
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1, labels: { app: caller } }\nspec: { address: 127.0.0.1, serviceAccount: caller, zone: dc-1 }\n',
  ].join('---\n'));
  const join_ = async (workload: string, args: string[]) => {
    const token = join(dir, `${workload}.token`);
    await ctl(['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    return startProxy('', ['--control-plane', cp.xds, '--token', token, '--identity-dir', join(dir, workload), '--drain-timeout', '1s', '--zone', 'dc-1', '--access-log', 'off', ...args], { readyTimeoutMs: 30_000 });
  };
  server = await join_('api-1', ['--app', `http=${app.port}`, '--outbound-port', String(await closedPort())]);
  caller = await join_('caller-1', ['--outbound-port', String(outbound)]);
  const deadline = Date.now() + 20_000;
  while ((await call('/ok').catch(() => 0)) !== 200) {
    if (Date.now() > deadline) assert.fail('the caller never reached the api through the mesh');
    await new Promise((r) => setTimeout(r, 100));
  }
  prom = await startPrometheus([
    { name: 'sluice-proxies', path: '/stats/prometheus', targets: [`127.0.0.1:${caller.statsPort}`, `127.0.0.1:${server.statsPort}`] },
    { name: 'sluice-cp', path: '/metrics', targets: [new URL(cp.url).host] },
  ]);
  // 1 warm-up 200 above; 29 more and 10 503s: a success rate of 30/40 from each side.
  for (let i = 0; i < 29; i++) assert.equal(await call('/ok'), 200);
  for (let i = 0; i < 10; i++) assert.equal(await call('/fail'), 503);
  // Until both sides' 40 requests are scraped.
  await prom.until('sum by (reporter) (sluice_requests_total{destination_service_name="api"})', (s) => s.length === 2 && s.every((x) => x.value === 40));
});

after(async () => {
  await prom?.stop();
  await Promise.all([caller?.stop(), server?.stop()]);
  await app?.close();
  await cp?.stop();
});

for (const reporter of ['source', 'destination']) {
  test(`Prometheus answers the success rate per destination_service as reporter="${reporter}" sees it: 30 of 40`, { skip: missing ?? false }, async () => {
    const rate = await prom.query(
      `sum by (destination_service) (sluice_requests_total{reporter="${reporter}",response_code!~"5.."}) / sum by (destination_service) (sluice_requests_total{reporter="${reporter}"})`,
    );
    assert.deepEqual(byService(rate), { [HOST]: 0.75 });
  });

  test(`Prometheus answers the p99 per destination_service with histogram_quantile as reporter="${reporter}" sees it: in the slow failures' range`, { skip: missing ?? false }, async () => {
    const p99 = await prom.query(`histogram_quantile(0.99, sum by (destination_service, le) (sluice_request_duration_milliseconds_bucket{reporter="${reporter}"}))`);
    assert.deepEqual(Object.keys(byService(p99)), [HOST]);
    // The 503s took 60 ms or more at the app: the top 1% is at least in the (50, 100] bucket.
    assert.ok(p99[0].value > 50 && Number.isFinite(p99[0].value), `p99 ${p99[0].value}`);
  });
}

test('each side labels the hop the way Istio does: workloads, namespaces, principals, zones, mTLS, the 503s by code', { skip: missing ?? false }, async () => {
  const series = await prom.query('sluice_requests_total{destination_service_name="api"}');
  const pick = (reporter: string, code: string) => {
    const s = series.find((x) => x.metric.reporter === reporter && x.metric.response_code === code);
    assert.ok(s !== undefined, `no ${reporter} series for ${code}: ${JSON.stringify(series.map((x) => x.metric))}`);
    const { __name__, job, instance, ...labels } = s.metric;
    return { labels, value: s.value };
  };
  const common = {
    destination_service: HOST,
    destination_service_name: 'api',
    destination_service_namespace: 'default',
    destination_workload: 'api-1',
    destination_workload_namespace: 'default',
    destination_principal: `spiffe://${TD}/ns/default/sa/api`,
    destination_cluster: 'dc-1',
    source_workload_namespace: 'default',
    source_principal: `spiffe://${TD}/ns/default/sa/caller`,
    request_protocol: 'http',
    connection_security_policy: 'mutual_tls',
    response_flags: '-',
  };
  assert.deepEqual(pick('source', '503'), { labels: { ...common, reporter: 'source', source_workload: 'caller-1', source_cluster: 'dc-1', response_code: '503' }, value: 10 });
  // The callee knows its caller's namespace from its SPIFFE ID, and its workload and zone from what the caller's proxy said (x-sluice-peer)...
  assert.deepEqual(pick('destination', '200'), { labels: { ...common, reporter: 'destination', source_workload: 'caller-1', source_cluster: 'dc-1', response_code: '200' }, value: 30 });
  // ...which the app never sees.
  assert.ok(app.seen.length >= 40 && app.seen.every((s) => s.headers['x-sluice-peer'] === undefined), 'x-sluice-peer reached the app');
});

test('Prometheus scrapes the control plane without a token: connected proxies per zone, resources per kind, ACK times, certificate expiry', { skip: missing ?? false }, async () => {
  const proxies = await prom.until('sum by (zone) (sluice_cp_connected_proxies{kind="proxy"})', (s) => s.length > 0);
  assert.deepEqual(proxies.map((s) => [s.metric.zone, s.value]), [['dc-1', 2]]);
  assert.deepEqual((await prom.query('sluice_cp_resources{kind=~"Service|Workload"}')).map((s) => [s.metric.kind, s.value]).sort(), [['Service', 1], ['Workload', 2]]);
  const acks = await prom.query('sum(sluice_cp_xds_ack_seconds_count)');
  assert.ok(acks[0].value >= 2 * 4, `ACKs seen: ${acks[0].value}`);
  const expiry = await prom.query('sluice_cp_proxy_cert_expiry_timestamp_seconds');
  assert.deepEqual(expiry.map((s) => s.metric.identity).sort(), [`spiffe://${TD}/ns/default/sa/api`, `spiffe://${TD}/ns/default/sa/caller`]);
  for (const s of expiry) assert.ok(s.value * 1000 > Date.now(), `${s.metric.node} expires in the future`);
  const text = await (await fetch(`${cp.url}/metrics`)).text();
  assert.ok(!text.includes(cp.token), 'the scrape shows no admin token');
});
