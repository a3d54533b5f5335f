// The offline CA verbs: create a mesh CA, issue an SVID from it, inspect certificates.
// Keys are written 0600; nothing is overwritten that would lose a key.

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateInfo, KeyType } from '../../../certs/index.ts';
import { UsageError, type Command } from '../command.ts';
import { lazy } from '../lazy.ts';

/** The CA code (certs/) loads when a CA verb runs, not for every sluicectl start. */
const certs = lazy<typeof import('../../../certs/index.ts')>(import.meta.url, '../../../certs/index.ts');

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

export const caCreate: Command = {
  words: ['ca', 'create'],
  usage: 'sluicectl ca create --trust-domain TD --out DIR [--key-type ecdsa-p256|rsa-2048]',
  summary: 'create a mesh CA (root + intermediate): DIR/root.pem, ca.pem, ca-key.pem, bundle.pem',
  examples: ['sluicectl ca create --trust-domain mesh.example --out ./ca', 'sluicectl ca create --trust-domain mesh.example --out ./ca-rsa --key-type rsa-2048'],
  options: { 'trust-domain': { type: 'string' }, out: { type: 'string' }, 'key-type': { type: 'string' } },
  required: ['trust-domain', 'out'],
  positionals: 0,
  run({ flags, ctx }) {
    const td = certs().parseTrustDomain(String(flags['trust-domain']));
    if (!td.ok) throw new UsageError(`invalid --trust-domain: ${td.error}`);
    const keyType = keyTypeFlag(flags['key-type']);
    const out = String(flags.out);
    if (existsSync(join(out, 'ca-key.pem'))) throw new UsageError(`${join(out, 'ca-key.pem')} already exists; refusing to overwrite a CA key (choose another --out)`);
    const ca = certs().createCa({ trustDomain: td.value, now: ctx.clock(), keyType });
    mkdirSync(out, { recursive: true });
    write(join(out, 'root.pem'), ca.root, CERT_MODE);
    write(join(out, 'ca.pem'), ca.ca, CERT_MODE);
    write(join(out, 'ca-key.pem'), ca.caKey, KEY_MODE);
    write(join(out, 'bundle.pem'), ca.bundle, CERT_MODE);
    const [root] = certs().inspectCertificates(ca.root);
    ctx.stdout(
      `created a CA for trust domain ${td.value} in ${out} (${keyType} keys)\n` +
        `  root.pem     the root (self-signed), valid until ${root.notAfter.toISOString()}; its key is not kept\n` +
        `  ca.pem       the intermediate that signs workload certificates\n` +
        `  ca-key.pem   the intermediate's private key (mode 0600)\n` +
        `  bundle.pem   the roots workloads trust\n`,
    );
    return 0;
  },
};

export const caIssue: Command = {
  words: ['ca', 'issue'],
  usage: 'sluicectl ca issue --ca DIR --spiffe-id ID --out DIR2 [--ttl 24h] [--csr FILE | --key-type ecdsa-p256|rsa-2048]',
  summary: 'issue a workload certificate (X.509-SVID): DIR2/cert.pem (with chain), key.pem unless --csr, bundle.pem',
  examples: [
    'sluicectl ca issue --ca ./ca --spiffe-id spiffe://mesh.example/ns/shop/sa/web --out ./web',
    'sluicectl ca issue --ca ./ca --spiffe-id spiffe://mesh.example/ns/shop/sa/api --out ./api --ttl 1h --csr api.csr',
  ],
  options: { ca: { type: 'string' }, 'spiffe-id': { type: 'string' }, out: { type: 'string' }, ttl: { type: 'string' }, csr: { type: 'string' }, 'key-type': { type: 'string' } },
  required: ['ca', 'spiffe-id', 'out'],
  positionals: 0,
  run({ flags, ctx }) {
    const id = certs().parseSpiffeId(String(flags['spiffe-id']));
    if (!id.ok) throw new UsageError(`invalid --spiffe-id: ${id.error}`);
    const ttlMs = flags.ttl === undefined ? 24 * 3_600_000 : parseTtl(String(flags.ttl));
    const keyType = keyTypeFlag(flags['key-type']);
    if (flags.csr !== undefined && flags['key-type'] !== undefined) throw new UsageError('--key-type and --csr do not go together: with --csr the key is the request\'s');
    const dir = String(flags.ca);
    const files = { root: readCaFile(dir, 'root.pem'), ca: readCaFile(dir, 'ca.pem'), caKey: readCaFile(dir, 'ca-key.pem'), bundle: readCaFile(dir, 'bundle.pem') };
    const ca = certs().loadCa(files);
    if (!ca.ok) throw new UsageError(`${dir}: ${ca.error}`);
    let publicKeyPem: string;
    let privateKeyPem: string | null = null;
    if (flags.csr !== undefined) {
      const csr = certs().readCsr(readInput(String(flags.csr)));
      if (!csr.ok) throw new UsageError(`--csr ${flags.csr}: ${csr.error}`);
      const asked = csr.value.uris;
      if (asked.length > 1 || (asked.length === 1 && asked[0] !== id.value.uri)) {
        throw new UsageError(`--csr ${flags.csr} asks for ${asked.join(', ')}, not ${id.value.uri}; an SVID carries exactly one identity`);
      }
      publicKeyPem = csr.value.publicKeyPem;
    } else {
      const keys = certs().generateKeyPair(keyType);
      publicKeyPem = keys.publicKeyPem;
      privateKeyPem = keys.privateKeyPem;
    }
    const svid = certs().issueSvid(ca.value, { spiffeId: id.value, publicKeyPem, now: ctx.clock(), ttlMs });
    if (!svid.ok) throw new UsageError(svid.error);
    const out = String(flags.out);
    mkdirSync(out, { recursive: true });
    write(join(out, 'cert.pem'), svid.value.certChain, CERT_MODE);
    if (privateKeyPem !== null) write(join(out, 'key.pem'), privateKeyPem, KEY_MODE);
    write(join(out, 'bundle.pem'), files.bundle, CERT_MODE);
    ctx.stdout(
      `issued ${id.value.uri} in ${out}\n` +
        `  valid ${svid.value.notBefore.toISOString()} to ${svid.value.notAfter.toISOString()}\n` +
        `  cert.pem     the certificate, then the intermediate\n` +
        (privateKeyPem === null ? '' : '  key.pem      its private key (mode 0600)\n') +
        `  bundle.pem   the roots to trust peers by\n`,
    );
    return 0;
  },
};

export const caInspect: Command = {
  words: ['ca', 'inspect'],
  usage: 'sluicectl ca inspect FILE',
  summary: 'show each certificate in FILE: identity, issuer, validity',
  examples: ['sluicectl ca inspect ./web/cert.pem'],
  options: {},
  required: [],
  positionals: 1,
  run({ positionals, ctx }) {
    const file = positionals[0];
    const text = readInput(file);
    if (certs().certificateBlocks(text).length === 0) {
      const csr = certs().readCsr(text);
      if (csr.ok) {
        ctx.stdout(`certificate request\n  identity:   ${csr.value.uris.join(', ') || '(none)'}\n  signature:  valid\n`);
        return 0;
      }
      throw new UsageError(`${file} holds no PEM certificate or certificate request`);
    }
    const infos = certs().inspectCertificates(text);
    ctx.stdout(infos.map((c, i) => describe(c, i, infos.length, ctx.clock())).join('\n'));
    return 0;
  },
};

function describe(c: CertificateInfo, i: number, n: number, now: number): string {
  const state = now < c.notBefore.getTime() ? 'not yet valid' : now > c.notAfter.getTime() ? 'EXPIRED' : `valid, ${humanMs(c.notAfter.getTime() - now)} left`;
  return (
    `certificate ${i + 1} of ${n}${c.isCa ? ' (CA)' : ''}\n` +
    `  identity:   ${c.identity ?? '(no URI SAN)'}\n` +
    `  subject:    ${c.subject}\n` +
    `  issuer:     ${c.issuer}\n` +
    `  key:        ${c.key}\n` +
    `  not before: ${c.notBefore.toISOString()}\n` +
    `  not after:  ${c.notAfter.toISOString()} (${state})\n` +
    `  serial:     ${c.serial}\n` +
    `  sha256:     ${c.fingerprintSha256}\n`
  );
}

function humanMs(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  return h >= 48 ? `${Math.floor(h / 24)}d` : h >= 1 ? `${h}h` : `${Math.floor(ms / 60_000)}m`;
}

/** 24h, 90m, 30d, 1h30m. */
export function parseTtl(text: string): number {
  const unit: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };
  if (!/^(\d+[dhms])+$/.test(text)) throw new UsageError(`invalid --ttl '${text}': write it like 24h, 90m, 30d or 1h30m`);
  let ms = 0;
  for (const [, n, u] of text.matchAll(/(\d+)([dhms])/g)) ms += Number(n) * unit[u];
  if (ms < 60_000) throw new UsageError(`invalid --ttl '${text}': at least 1m`);
  return ms;
}

/** --key-type, ecdsa-p256 when absent. */
function keyTypeFlag(value: unknown): KeyType {
  if (value === undefined) return certs().DEFAULT_KEY_TYPE;
  const text = String(value);
  if (!certs().isKeyType(text)) throw new UsageError(`invalid --key-type '${text}': one of ${certs().KEY_TYPES.join(', ')}`);
  return text;
}

function readCaFile(dir: string, name: string): string {
  const file = join(dir, name);
  if (!existsSync(file)) throw new UsageError(`${file} does not exist; --ca names a directory made by 'sluicectl ca create'`);
  return readFileSync(file, 'utf8');
}

function readInput(file: string): string {
  if (!existsSync(file)) throw new UsageError(`${file} does not exist`);
  return readFileSync(file, 'utf8');
}

function write(file: string, text: string, mode: number): void {
  writeFileSync(file, text, { mode });
  // writeFileSync's mode applies to new files only; an existing file keeps its own.
  chmodSync(file, mode);
}
