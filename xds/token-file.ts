// The join-token file `sluicectl token create` prints (or writes with --out, mode 0600)
// and a VM's sluice-proxy reads on its first start: who the token is for, the token, the
// identity it is bound to, and the control plane's trust bundle, so the proxy can check
// the control plane's serving certificate before it sends the token anywhere.
//
//   # Sluice join token for Workload shop/orders-vm-1
//   # identity spiffe://cluster.local/ns/shop/sa/orders
//   # expires 2030-01-01T00:00:00.000Z; single use; keep this file secret
//   token: sluice-jt.0a1b2c3d4e5f.<43 characters>
//   identity: spiffe://cluster.local/ns/shop/sa/orders
//   -----BEGIN CERTIFICATE-----
//   ...
//   -----END CERTIFICATE-----

import { readBundle } from '../certs/bundle.ts';
import type { Result } from '../certs/result.ts';
import { parseSpiffeId } from '../certs/spiffe-id.ts';

/** `sluice-jt.<id>.<secret>`: id 12 lower-case hex digits, secret 32 random bytes in base64url. */
const TOKEN_PATTERN = /^sluice-jt\.([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

export type JoinTokenParts = { readonly id: string; readonly secret: string };

/** The id and secret of a token's text; null when it is not of the form `sluice-jt.<id>.<secret>`. */
export function splitJoinToken(text: string): JoinTokenParts | null {
  const m = TOKEN_PATTERN.exec(text);
  return m === null ? null : { id: m[1], secret: m[2] };
}

export type TokenFile = {
  readonly token: string;
  readonly identity: string;
  /** PEM roots: the control plane's serving certificate chains to one of them. */
  readonly bundle: string;
};

export type TokenFileHeader = {
  readonly workload: string;
  readonly namespace: string;
  readonly expiresAt: string;
};

export function formatTokenFile(file: TokenFile, header: TokenFileHeader): string {
  return (
    `# Sluice join token for Workload ${header.namespace}/${header.workload}\n` +
    `# identity ${file.identity}\n` +
    `# expires ${header.expiresAt}; single use; keep this file secret (mode 0600)\n` +
    `token: ${file.token}\n` +
    `identity: ${file.identity}\n` +
    file.bundle.replace(/\n*$/, '\n')
  );
}

const KEYS = ['token', 'identity'] as const;
const BEGIN = '-----BEGIN CERTIFICATE-----';
const END = '-----END CERTIFICATE-----';

/** Reads a token file; an error names the line that is wrong (`where` is the file name). */
export function parseTokenFile(text: string, where = 'the token file'): Result<TokenFile, string> {
  const values: Partial<Record<(typeof KEYS)[number], string>> = {};
  const blocks: string[] = [];
  let block: string[] | null = null;
  let beganAt = 0;
  const lines = text.split(/\r?\n/);
  const fail = (line: number, message: string): Result<TokenFile, string> => ({ ok: false, error: `${where}: line ${line}: ${message}` });
  for (const [i, raw] of lines.entries()) {
    const n = i + 1;
    const line = raw.trim();
    if (block !== null) {
      block.push(line);
      if (line === END) {
        blocks.push(`${block.join('\n')}\n`);
        block = null;
      } else if (line.startsWith('-----')) return fail(n, `expected '${END}' to close the certificate begun on line ${beganAt}`);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    if (line === BEGIN) {
      block = [line];
      beganAt = n;
      continue;
    }
    if (blocks.length > 0) return fail(n, 'only certificates may follow the first certificate of the trust bundle');
    const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (m === null) return fail(n, "expected 'token: ...', 'identity: ...', a '#' comment or the trust bundle's '-----BEGIN CERTIFICATE-----'");
    const key = m[1] as (typeof KEYS)[number];
    if (!KEYS.includes(key)) return fail(n, `unknown key '${m[1]}'; a token file has ${KEYS.join(' and ')}`);
    if (values[key] !== undefined) return fail(n, `'${key}' is given twice`);
    const value = m[2].trim();
    if (key === 'token' && splitJoinToken(value) === null) return fail(n, 'the token is not of the form sluice-jt.<12 hex digits>.<43 base64url characters>; copy it whole from sluicectl token create');
    if (key === 'identity') {
      const id = parseSpiffeId(value);
      if (!id.ok) return fail(n, `the identity is not a SPIFFE ID: ${id.error}`);
    }
    values[key] = value;
  }
  if (block !== null) return fail(lines.length, `the certificate begun on line ${beganAt} has no '${END}'`);
  for (const key of KEYS) if (values[key] === undefined) return { ok: false, error: `${where}: no '${key}: ...' line` };
  if (blocks.length === 0) return { ok: false, error: `${where}: no trust bundle (PEM certificates after the token and identity lines)` };
  const bundle = readBundle(blocks.join(''));
  if (!bundle.ok) return { ok: false, error: `${where}: trust bundle: ${bundle.error}` };
  return { ok: true, value: { token: values.token!, identity: values.identity!, bundle: bundle.value.join('') } };
}
