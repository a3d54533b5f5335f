// Issue 19 points 4 and 6 with real processes: sluice-cp and two joined sluice-proxies
// (a caller and web's instance, mTLS), some calls that succeed and some that fail. The
// proxies send their golden metrics to the control plane; `sluicectl stat` shows them per
// Service and per edge, `sluicectl top` redraws them; and the web dashboard, opened in
// headless Chromium (Debian's, driven by puppeteer-core) from the link `sluicectl
// dashboard` prints, loads with no console error and shows the Services, the edge with its
// live numbers, the proxies per zone, a route whose condition is False and a Service page.
// A screenshot is taken (docs/dashboard.png is refreshed with SLUICE_UPDATE_SCREENSHOT=1).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../../control-plane/cli/run.ts';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { captureContext, sluicectl } from '../control-plane/cli/harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const HOST = 'web.default.svc.cluster.local';
const dir = mkdtempSync(join(tmpdir(), 'sluice-dashboard-'));
let cp: ControlPlaneProcess;
let app: Upstream;
const proxies: ProxyProcess[] = [];
let outbound: number;

const env = () => ({ SLUICE_SERVER: cp.url, SLUICE_TOKEN_FILE: cp.tokenFile });
const ctl = async (argv: string[], stdin?: string) => {
  const r = await sluicectl(argv, { env: env(), stdin });
  assert.equal(r.code, 0, `sluicectl ${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function call(path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path, headers: { host: HOST }, agent: false }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

const workload = (name: string, labels: string, ports: string, sa: string) =>
  `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: ${name}, labels: ${labels} }\nspec: { address: 127.0.0.1, ports: ${ports}, serviceAccount: ${sa}, zone: dc-1 }\n`;

before(async () => {
  outbound = await closedPort();
  const inbound = await closedPort();
  cp = await startControlPlane({ dataDir: join(dir, 'cp'), args: ['--xds-addr', `127.0.0.1:${await closedPort()}`, '--trust-domain', 'dash.sluice.dev'] });
  await ctl(['apply', '-f', '-'], [
    'apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: dash.sluice.dev, mtls: { mode: STRICT } }\n',
    'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { selector: { app: web }, ports: [{ name: http, port: 80 }] }\n',
    workload('web-1', '{ app: web }', `{ http: ${inbound} }`, 'web'),
    workload('caller-1', '{ app: caller }', '{}', 'caller'),
    // A route to a backend that does not exist: its condition is False, for the dashboard to show.
    'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: web-to-nowhere }\nspec: { parentRefs: [{ group: "", kind: Service, name: web, port: 80 }], rules: [{ matches: [{ path: { type: PathPrefix, value: /nowhere } }], backendRefs: [{ name: gone, port: 80 }] }, { backendRefs: [{ name: web, port: 80 }] }] }\n',
  ].join('---\n'));
  // web answers 503 to /fail, 200 to the rest.
  app = await startUpstream('web-1', (req, res) => {
    res.writeHead(req.url === '/fail' ? 503 : 200, { 'content-type': 'text/plain' }).end('web-1\n');
  });
  for (const [name, args] of [
    ['web-1', ['--app', `http=${app.port}`, '--outbound-port', String(await closedPort())]],
    ['caller-1', ['--outbound-port', String(outbound)]],
  ] as const) {
    const tokenFile = join(dir, `${name}.token`);
    await ctl(['token', 'create', '--workload', name, '--ttl', '10m', '--out', tokenFile]);
    proxies.push(await startProxy('', ['--control-plane', cp.xds, '--token', tokenFile, '--identity-dir', join(dir, name), '--drain-timeout', '1s', '--access-log', 'off', ...args], { readyTimeoutMs: 30_000 }));
  }
  await until('a call through the mesh', async () => ((await call('/')) === 200 ? true : undefined));
  // 40 calls, 10 of them failing: a success rate of 75 %, seen by both sides of the hop.
  for (let i = 0; i < 40; i++) assert.equal(await call(i % 4 === 0 ? '/fail' : '/'), i % 4 === 0 ? 503 : 200);
});

after(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await app?.close();
  await cp?.stop();
});

/** The little of the DOM the page checks read, for the functions puppeteer runs in the page. */
type DomEl = { textContent: string | null; getAttribute(name: string): string | null; querySelector(s: string): DomEl | null; querySelectorAll(s: string): Iterable<DomEl> };
type Dom = { querySelector(s: string): DomEl | null; querySelectorAll(s: string): Iterable<DomEl>; getElementById(id: string): DomEl | null };

type Row = { rps: number; requests: number; successRate: number | null; p99: number | null };

test('sluicectl stat: the Service as its instance served it, the edge as the caller saw it', { timeout: 90_000 }, async () => {
  const stats = await until(
    'both sides of the hop in the control plane\'s aggregation',
    async () => {
      const s = JSON.parse(await ctl(['stat', '-o', 'json', '-t', '5m'])) as { services: (Row & { name: string })[]; edges: (Row & { source: string; destination: string })[] };
      const web = s.services.find((r) => r.name === 'web');
      const edge = s.edges.find((e) => e.source === 'caller-1' && e.destination === HOST);
      return web !== undefined && edge !== undefined && web.requests >= 40 && edge.requests >= 40 ? { web, edge } : undefined;
    },
    60_000,
  );
  for (const r of [stats.web, stats.edge]) {
    assert.ok(r.rps > 0);
    // The first call (before the loop) succeeded too; the window holds them all.
    assert.ok(r.successRate !== null && Math.abs(r.successRate - 31 / 41) < 0.03, `success rate ${r.successRate}`);
    assert.ok(r.p99 !== null && r.p99 > 0);
  }
  const table = await ctl(['stat', '-t', '5m']);
  assert.match(table, /^NAMESPACE\s+SERVICE\s+RPS\s+SUCCESS\s+P50\s+P99\s+REQUESTS\s+INSTANCES\n/);
  assert.match(table, /\ndefault\s+web\s+[\d.]+\s+7[0-9]\.\d\d%\s+[\d.]+ms\s+[\d.]+ms\s+4\d\s+1\n/);
  assert.match(await ctl(['stat', 'edges', '-t', '5m']), /\ndefault\s+caller-1\s+web\.default\.svc\.cluster\.local\s+[\d.]+\s+7[0-9]\.\d\d%/);
  assert.match(await ctl(['stat', '-n', 'other']), /^No requests to any Service in the last 60s\./);
  const bad = await sluicectl(['stat', 'pods'], { env: env() });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /stat shows services or edges; got 'pods'/);
  // top: the same table, redrawn in place; Ctrl-C stops it.
  const abort = new AbortController();
  const ctx = captureContext({ env: env(), interrupt: abort.signal });
  const running = runCli(['top', '-t', '5m', '--interval', '1'], ctx);
  await until('a frame of top', async () => (ctx.out.join('').includes('web') ? true : undefined), 10_000);
  abort.abort();
  assert.equal(await running, 0);
  assert.match(ctx.out.join(''), /^\u001b\[H\u001b\[2J/);
});

test('the web dashboard in headless Chromium: Services, the edge with live numbers, proxies, a False condition, a Service page; no console error', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip('chromium is not installed (apt-get install chromium; .ci/run installs it)');
  const link = (await ctl(['dashboard'])).trim();
  assert.match(link, new RegExp(`^${cp.url}/dashboard/#token=`));
  const puppeteer = (await import('puppeteer-core')).default;
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(link, { waitUntil: 'load' });
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
    // The token left the address bar; the page kept it for the tab.
    assert.doesNotMatch(page.url(), /token/);
    // The numbers come in with the proxies' next reports: wait for the edge to carry them.
    await page.waitForFunction(() => /\d+(\.\d+)?\/s/.test((globalThis as unknown as { document: Dom }).document.querySelector('g.edge[data-to="default/web"] text')?.textContent ?? ''), { timeout: 30_000 });
    const view = await page.evaluate(() => {
      const document = (globalThis as unknown as { document: Dom }).document;
      return {
      services: [...document.querySelectorAll('#services tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      edge: document.querySelector('g.edge[data-to="default/web"]')?.getAttribute('data-from'),
      edgeText: document.querySelector('g.edge[data-to="default/web"] text')?.textContent,
      proxies: document.querySelector('#proxies')?.textContent ?? '',
      problems: document.querySelector('#problems')?.textContent ?? '',
      };
    });
    const web = view.services.find((r) => r[1] === 'web');
    assert.ok(web !== undefined, JSON.stringify(view.services));
    assert.ok(Number(web[2]) > 0, `rps ${web[2]}`);
    assert.match(web[3] ?? '', /^7\d\.\d\d%$/);
    assert.equal(view.edge, 'default/caller-1');
    assert.match(view.edgeText ?? '', /\/s · 7\d\.\d\d% · p99 [\d.]+ ms/);
    assert.match(view.proxies, /dc-1caller-1\.default/);
    assert.match(view.proxies, /web-1\.default(proxy)?SYNCED/);
    assert.match(view.problems, /HTTPRoutedefaultweb-to-nowhere/);
    // docs/dashboard.png is refreshed only when asked (SLUICE_UPDATE_SCREENSHOT=1): a test
    // run must not leave the checkout changed. Otherwise the screenshot goes to a temp file.
    const shot = process.env.SLUICE_UPDATE_SCREENSHOT === '1' ? new URL('../../docs/dashboard.png', import.meta.url).pathname : join(mkdtempSync(join(tmpdir(), 'sluice-dashboard-')), 'dashboard.png');
    mkdirSync(dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    assert.ok(statSync(shot).size > 10_000, 'the screenshot has content');
    // The Service page: its routes, its instance's proxy state, its caller.
    await page.click('#services a');
    await page.waitForSelector('#service dl', { timeout: 10_000 });
    const service = await page.evaluate(() => {
      const document = (globalThis as unknown as { document: Dom }).document;
      return { head: document.querySelector('#service h2')?.textContent, body: document.querySelector('#service')?.textContent ?? '', instances: document.querySelector('#instances')?.textContent ?? '', callers: document.querySelector('#callers')?.textContent ?? '' };
    });
    assert.equal(service.head, 'Service web.default');
    assert.match(service.body, /HTTPRoute\/web-to-nowhere/);
    assert.match(service.instances, /web-1127\.0\.0\.1dc-1SYNCED/);
    assert.match(service.callers, /caller-1\.default/);
    // A wrong token: the page asks for one instead of showing anything.
    const other = await browser.newPage();
    await other.goto(`${cp.url}/dashboard/#token=wrong`, { waitUntil: 'load' });
    await other.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
    assert.equal(await other.evaluate(() => (globalThis as unknown as { document: Dom }).document.getElementById('main')?.textContent), '');
    assert.deepEqual(errors.filter((e) => !/401/.test(e)), []);
  } finally {
    await browser.close();
  }
});
