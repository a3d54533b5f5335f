// Three zones and a global on one machine, as network namespaces on a wan (sites.ts), for
// the three-site test, `npm run demo:hybrid` and the hybrid bench: `global` (sluice-cp
// --role global, open on 15012 only), and `dc-vm`, `onprem` and `cloud`, each with its zone
// control plane, its zone ingress (open on 15443 only) and one instance of the Service `web`
// (an app on loopback that answers its site, behind a VM-style proxy); dc-vm also runs the
// caller's proxy, whose outbound port is 15001 in that namespace. web has a RetryPolicy
// (two retries on connect failures, resets and 5xx), applied on the global. Root only.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CP_MAIN } from './control-plane.ts';
import { PROXY_MAIN } from './proxy-process.ts';
import { NsProcesses, type NsProc } from './netns.ts';
import { makeSites, type Site, type Sites } from './sites.ts';

const CLI_MAIN = fileURLToPath(new URL('../../control-plane/cli/main.ts', import.meta.url));
export const TD = 'sites.sluice.dev';
export const ZONES = ['dc-vm', 'onprem', 'cloud'] as const;
export type Zone = (typeof ZONES)[number];
/** The Host the caller sends: the Service web in namespace default. */
export const WEB = 'web.default.svc.cluster.local';

/** The app of an instance: answers its site and what its proxy told it about the caller. */
const APP = `
const http = require('node:http');
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ site: process.argv[1], xfcc: req.headers['x-forwarded-client-cert'] ?? null }));
}).listen(8081, '127.0.0.1', () => console.log('app listening'));
`;

export type Proc = NsProc;

export type ThreeSites = {
  readonly sites: Sites;
  readonly dir: string;
  /** Each zone's instance of web: its app and its proxy. */
  readonly instances: Map<Zone, { app: Proc; proxy: Proc }>;
  /** Each zone's zone ingress proxy. */
  readonly ingresses: Map<Zone, Proc>;
  /** A long-running process in a site; its output kept. */
  start(site: string, argv: string[]): Proc;
  /** A command in a site, to its end. */
  run(site: string, argv: string[], env?: Record<string, string>): ReturnType<typeof spawnSync>;
  /** sluicectl against a site's control plane (on its loopback); `stdin` is applied with -f. */
  ctl(site: string, args: string[], stdin?: string): string;
  /** One GET from dc-vm's caller to web: the answering site and the XFCC it saw, or null. */
  call(): { site: string; xfcc: string | null } | null;
  waitOut(p: Proc, re: RegExp, what: string, ms?: number): Promise<void>;
  close(): Promise<void>;
};

export async function startThreeSites(log: (line: string) => void = () => {}): Promise<ThreeSites> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-sites-'));
  const sites = makeSites(['global', ...ZONES], { global: [15012], 'dc-vm': [15443], onprem: [15443], cloud: [15443] });
  const processes = new NsProcesses();
  const instances = new Map<Zone, { app: Proc; proxy: Proc }>();
  const ingresses = new Map<Zone, Proc>();
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const start = (site: string, argv: string[]): Proc => processes.start(sites.site(site), argv);
  const waitOut = (p: Proc, re: RegExp, what: string, ms?: number) => processes.waitOut(p, re, what, ms);
  const run = (site: string, argv: string[], more: Record<string, string> = {}) =>
    spawnSync('ip', ['netns', 'exec', sites.site(site).name, ...argv], { encoding: 'utf8', timeout: 60_000, env: { ...env, ...more } });
  let n = 0;
  const ctl = (site: string, args: string[], stdin?: string): string => {
    const file = join(dir, `stdin-${n++}.yaml`);
    if (stdin !== undefined) writeFileSync(file, stdin);
    const r = run(site, [process.execPath, CLI_MAIN, ...args, ...(stdin === undefined ? [] : ['-f', file])], { SLUICE_SERVER: 'http://127.0.0.1:15014', SLUICE_TOKEN_FILE: join(dir, site, 'admin-token') });
    assert.equal(r.status, 0, `sluicectl ${args.join(' ')} on ${site}: ${r.stderr}${r.stdout}`);
    return String(r.stdout);
  };
  const controlPlane = (site: string, args: string[]) =>
    start(site, [process.execPath, CP_MAIN, '--store', `file:${join(dir, site)}`, '--api-addr', '127.0.0.1:15014', '--xds-plaintext-addr', 'off', '--webhook-addr', 'off', ...args]);
  /** A proxy joined to its zone's control plane, with admin and stats ports of its own. */
  const joinProxy = (zone: Zone, workload: string, port: number, more: string[]): Proc => {
    const token = join(dir, `${zone}-${workload}.token`);
    ctl(zone, ['token', 'create', '--workload', workload, '--ttl', '10m', '--out', token]);
    const identity = join(dir, `${zone}-${workload}-identity`);
    mkdirSync(identity, { mode: 0o700 });
    return start(zone, [process.execPath, PROXY_MAIN, '--control-plane', '127.0.0.1:15012', '--token', token, '--identity-dir', identity, '--admin-port', String(15100 + port), '--stats-port', String(15200 + port), '--access-log', 'off', '--drain-timeout', '1s', ...more]);
  };
  const call = () => {
    const r = run('dc-vm', [process.execPath, '-e', `require('node:http').get({ host: '127.0.0.1', port: 15001, headers: { host: '${WEB}' }, timeout: 5000 }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => console.log(res.statusCode === 200 ? b : 'FAIL ' + res.statusCode)); }).on('error', (e) => console.log('FAIL ' + e.message));`]);
    const line = String(r.stdout).trim();
    return line.startsWith('{') ? (JSON.parse(line) as { site: string; xfcc: string | null }) : null;
  };
  const close = async () => {
    await processes.stopAll();
    sites.destroy();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const global = sites.site('global');
    const globalCp = controlPlane('global', ['--role', 'global', '--trust-domain', TD, '--xds-addr', `${global.address}:15012`]);
    await waitOut(globalCp, /"msg":"api listening"/, 'the global control plane');
    // Mesh-wide, so on the global: the mesh, and web's retries (a failed try goes to the next zone).
    ctl('global', ['apply'], [
      `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Mesh\nmetadata: { name: default }\nspec: { trustDomain: ${TD}, mtls: { mode: STRICT } }\n`,
      'apiVersion: mesh.sluice.dev/v1alpha1\nkind: RetryPolicy\nmetadata: { name: web }\nspec: { targetRefs: [{ kind: Service, name: web }], attempts: 2, retryOn: [connect-failure, reset, 5xx] }\n',
    ].join('---\n'));
    log(`global: sluice-cp --role global on ${global.address}:15012`);
    for (const [i, zone] of ZONES.entries()) {
      const token = join(dir, `${zone}.zone-token`);
      ctl('global', ['zone', 'token', 'create', zone, '--out', token]);
      const cp = controlPlane(zone, ['--role', 'zone', '--zone', zone, '--global', `${global.address}:15012`, '--zone-token', token, '--xds-addr', '127.0.0.1:15012']);
      await waitOut(cp, /"msg":"api listening"/, `the ${zone} zone control plane`);
      const address = sites.site(zone).address;
      ctl(zone, ['apply'], [
        'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { selector: { app: web }, ports: [{ name: http, port: 80 }] }\n',
        `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: web-1, labels: { app: web } }\nspec: { address: ${address}, ports: { http: 8080 }, serviceAccount: web-${zone} }\n`,
        `apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: zone-ingress }\nspec: { address: ${address}, serviceAccount: zone-ingress }\n`,
        ...(zone === 'dc-vm' ? ['apiVersion: mesh.sluice.dev/v1alpha1\nkind: Workload\nmetadata: { name: caller-1 }\nspec: { address: 127.0.0.1, serviceAccount: caller }\n'] : []),
      ].join('---\n'));
      const ingress = joinProxy(zone, 'zone-ingress', 10 + i, ['--mode', 'zone-ingress']);
      await waitOut(ingress, /"msg":"proxy ready"/, `the ${zone} zone ingress`);
      ingresses.set(zone, ingress);
      const app = start(zone, [process.execPath, '-e', APP, zone]);
      await waitOut(app, /app listening/, `the app in ${zone}`);
      const proxy = joinProxy(zone, 'web-1', 20 + i, ['--app', 'http=8081', '--outbound-port', String(15300 + i)]);
      instances.set(zone, { app, proxy });
      await waitOut(proxy, /"msg":"proxy ready"/, `the instance proxy in ${zone}`);
      log(`${zone}: zone control plane, zone ingress on ${address}:15443, web-1 (${address}:8080)`);
    }
    const caller = joinProxy('dc-vm', 'caller-1', 30, ['--outbound-port', '15001']);
    await waitOut(caller, /"msg":"proxy ready"/, "dc-vm's caller proxy");
    // Until dc-vm has heard of the others' instances through the global, it calls only its own.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const zones = JSON.parse(ctl('dc-vm', ['get', 'zones', '-o', 'json'])) as { items: { name: string; ingress: string | null; services: number }[] };
      const ready = zones.items.filter((z) => z.ingress !== null && z.ingress !== '' && z.services > 0).map((z) => z.name);
      if (ready.includes('onprem') && ready.includes('cloud')) break;
      if (Date.now() > deadline) assert.fail(`dc-vm does not know both other zones' ingresses after 60 s: ${JSON.stringify(zones.items)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    log("dc-vm knows onprem's and cloud's ingresses through the global");
  } catch (err) {
    await close();
    throw err;
  }
  return { sites, dir, instances, ingresses, start, run, ctl, call, waitOut, close };
}

export type { Site };
