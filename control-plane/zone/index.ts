// sluice-cp's roles (issue 18), wired for main.ts: the CA each role runs on, and what each
// adds to the control plane. standalone adds nothing; global adds the zone stream's server,
// zone tokens and the zones' records; zone adds the link to the global and its remote zones.

import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { caTrustDomains, certificateBlocks, loadCa, type Ca } from '../../certs/index.ts';
import { ensureCa, ROOT_KEY_FILE, writeZoneCa } from '../ca/ca-dir.ts';
import type { CpFlags } from '../flags.ts';
import type { Logger } from '../log.ts';
import type { ResourceStore } from '../store/store.ts';
import type { Xds } from '../xds/index.ts';
import type { ZoneRow, ZonesApiOptions } from '../apiserver/zones.ts';
import { GlobalZones } from './global-server.ts';
import type { ZoneRecord, ZoneSummary } from './model.ts';
import { refusalOf } from './roles.ts';
import { zoneSummary } from './summary.ts';
import { healthText, IngressProber } from './ingress-probe.ts';
import { zoneTokens } from './tokens.ts';
import { parseZoneTokenFile } from './tokens.ts';
import { enroll, EnrollError, ZoneLink } from './zone-link.ts';

export { refusalOf } from './roles.ts';
export type { ZoneSummary } from './model.ts';

/** A start the role cannot make (no zone token, a global without its root's key): said in one line, exit 2. */
export class RoleError extends Error {}

/** The CA this role signs with: standalone and global make or load their own; a zone loads its intermediate, or enrolls for one. */
export async function roleCa(flags: CpFlags, version: string, log: Logger): Promise<{ ca: Ca; created: boolean }> {
  if (flags.role !== 'zone') {
    const r = ensureCa(flags.caDir, flags.trustDomain, Date.now(), { keepRootKey: flags.role === 'global' });
    if (flags.role === 'global' && !existsSync(join(flags.caDir, ROOT_KEY_FILE))) {
      throw new RoleError(`--role global signs the zones' intermediate CAs with the root's key, ${join(flags.caDir, ROOT_KEY_FILE)}, and the CA in ${flags.caDir} has none (a standalone control plane keeps no root key): start the global with a new --ca-dir, or put the root's key there`);
    }
    return r;
  }
  const zone = flags.zone!;
  if (!existsSync(join(flags.caDir, 'ca-key.pem'))) {
    if (zone.tokenFile === null) throw new RoleError(`zone ${zone.name} has no intermediate CA in ${flags.caDir} yet: its first start needs --zone-token FILE (run sluicectl zone token create ${zone.name} --out FILE on the global)`);
    let text: string;
    try {
      text = readFileSync(zone.tokenFile, 'utf8');
    } catch (err) {
      throw new RoleError(`--zone-token ${zone.tokenFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const file = parseZoneTokenFile(text, `--zone-token ${zone.tokenFile}`);
    if (!file.ok) throw new RoleError(file.error);
    if (file.value.zone !== zone.name) throw new RoleError(`--zone-token ${zone.tokenFile} is for zone ${file.value.zone}, but this control plane runs as --zone ${zone.name}; mint one for ${zone.name} with sluicectl zone token create ${zone.name}`);
    const trustDomain = caTrustDomains(new X509Certificate(certificateBlocks(file.value.bundle)[0]))[0];
    if (trustDomain === undefined) throw new RoleError(`--zone-token ${zone.tokenFile}: the trust bundle's root names no spiffe:// trust domain`);
    log('info', 'enrolling with the global control plane', { global: zone.global, zone: zone.name });
    try {
      const got = await enroll({ global: zone.global, zone: zone.name, version, token: file.value.token, bundle: file.value.bundle, trustDomain, log });
      writeZoneCa(flags.caDir, { bundle: got.bundle, intermediate: got.intermediate, key: got.key });
    } catch (err) {
      if (err instanceof EnrollError) throw new RoleError(err.message);
      throw err;
    }
    log('info', 'zone enrolled: intermediate CA kept', { dir: flags.caDir });
  }
  const read = (f: string) => readFileSync(join(flags.caDir, f), 'utf8');
  const ca = loadCa({ root: read('root.pem'), ca: read('ca.pem'), caKey: read('ca-key.pem'), bundle: read('bundle.pem') });
  if (!ca.ok) throw new RoleError(`${flags.caDir}: ${ca.error}`);
  return { ca: ca.value, created: false };
}

export type RoleParts = {
  /** For startXds: this zone and the remote zones (zone role only). */
  readonly zones?: () => { readonly localZone: string; readonly remoteZones: readonly ZoneSummary[] };
  /** Once xDS runs: starts the link (zone) or the zone stream's state (global). */
  start(xds: Xds): Promise<void>;
  /** Adds the zone stream to the :15012 TLS server (global only). */
  register(server: grpc.Server): void;
  readonly api: ZonesApiOptions;
  readonly refuse: (kind: string) => string | undefined;
  close(): void;
};

export function roleParts(flags: CpFlags, deps: { ca: Ca; store: ResourceStore; version: string; log: Logger }): RoleParts {
  const refuse = (kind: string) => refusalOf(flags.role, flags.zone?.name, kind);
  const rowOf = (r: ZoneRecord): ZoneRow => ({
    name: r.summary.zone,
    status: r.summary.online ? 'online' : 'offline',
    lastSync: r.summary.lastSync,
    version: r.version,
    proxies: r.proxies,
    ingress: r.summary.ingress === null ? null : `${r.summary.ingress.address}:${r.summary.ingress.port}`,
    services: r.summary.services.length,
  });
  if (flags.role === 'global') {
    const tokens = zoneTokens(deps.store, Date.now);
    const zones = new GlobalZones({ store: deps.store, tokens, trustDomain: deps.ca.trustDomain, root: { cert: deps.ca.root, key: readFileSync(join(flags.caDir, ROOT_KEY_FILE), 'utf8') }, bundle: deps.ca.bundle, dataDir: flags.dataDir, now: Date.now, log: deps.log, zoneCaTtlMs: flags.zoneCaTtlMs });
    return {
      start: () => zones.start(),
      register: (server) => zones.register(server),
      api: { role: 'global', tokens, trustBundle: deps.ca.bundle, rows: () => zones.records().map(rowOf) },
      refuse,
      close: () => zones.close(),
    };
  }
  if (flags.role === 'zone') {
    const zone = flags.zone!;
    /**
     * Where other zones reach this zone's instances, as told to the global: --ingress-address,
     * else the zone ingress connected to this control plane (sluice-proxy --mode zone-ingress)
     * at its Workload's address and listen port (ingress-address.ts).
     */
    const ingress = (): { address: string; port: number } | null => xds?.ingressAddress(zone.ingress) ?? zone.ingress;
    let xds: Xds | null = null;
    const proxies = () => (xds?.status() ?? []).filter((p) => p.kind === 'proxy' && p.status === 'CONNECTED').length;
    const link = new ZoneLink({
      global: zone.global,
      zone: zone.name,
      version: deps.version,
      trustDomain: deps.ca.trustDomain,
      identity: { cert: deps.ca.ca, key: deps.ca.caKey },
      bundle: deps.ca.bundle,
      store: deps.store,
      dataDir: flags.dataDir,
      log: deps.log,
      now: Date.now,
      report: () => ({ summary: self(), proxies: proxies() }),
      onZones: () => xds?.refresh(),
      onRenewed: ({ intermediate, key }) => {
        writeZoneCa(flags.caDir, { bundle: deps.ca.bundle, intermediate, key });
        const next = loadCa({ root: deps.ca.root, ca: intermediate, caKey: key, bundle: deps.ca.bundle });
        if (!next.ok) throw new Error(`the renewed intermediate cannot be used: ${next.error}`);
        // The certificate service, the serving credentials and the webhook read this one Ca at each use: from now on they sign with the new intermediate.
        Object.assign(deps.ca as { -readonly [K in keyof Ca]: Ca[K] }, next.value);
      },
    });
    // A Sluice proxy's node id is <workload>.<namespace> (xds/node.ts).
    const connected = () => new Set((xds?.status() ?? []).filter((p) => p.kind === 'proxy' && p.status === 'CONNECTED').map((p) => `${p.id.slice(p.id.lastIndexOf('.') + 1)}/${p.id.slice(0, p.id.lastIndexOf('.'))}`));
    const self = () => zoneSummary(xds?.view() ?? null, zone.name, ingress(), new Set(link.remoteZones().map((z) => z.zone)), connected());
    const prober = new IngressProber(() => link.remoteZones().flatMap((z) => (z.zone === zone.name || z.ingress === null ? [] : [{ zone: z.zone, ...z.ingress }])), Date.now);
    // This zone's own: an ingress proxy on ADS is there; an --ingress-address alone is what the operator says.
    const ownHealth = (): string => (xds?.ingressAddress(null) != null ? 'ingress proxy connected' : zone.ingress !== null ? 'configured (no ingress proxy connected)' : 'none');
    const remoteRow = (r: ZoneRecord): ZoneRow => {
      const row = rowOf(r);
      const at = r.summary.ingress;
      if (at === null) return { ...row, ingressHealth: 'no ingress' };
      const h = prober.health(r.summary.zone, at.address, at.port);
      return { ...row, ingressHealth: healthText(h), ...(h === undefined ? {} : { ingressReachable: h.reachable }) };
    };
    return {
      zones: () => ({ localZone: zone.name, remoteZones: link.remoteZones() }),
      start: async (x) => {
        xds = x;
        link.start();
        prober.start();
      },
      register: () => {},
      api: {
        role: 'zone',
        zone: zone.name,
        trustBundle: deps.ca.bundle,
        rows: () => {
          const s = link.state;
          const me: ZoneRow = { ...rowOf({ summary: self(), version: deps.version, proxies: proxies() }), status: s.connected ? 'online' : 'offline', lastSync: s.lastSync, self: true, ingressHealth: ownHealth() };
          return [me, ...s.zones.filter((z) => z.summary.zone !== zone.name).map(remoteRow)];
        },
      },
      refuse,
      close: () => {
        prober.close();
        link.close();
      },
    };
  }
  return { start: async () => {}, register: () => {}, api: { role: 'standalone', trustBundle: deps.ca.bundle, rows: () => [] }, refuse, close: () => {} };
}
