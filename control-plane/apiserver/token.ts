// The admin bearer token: made at first start (32 random bytes) into DATADIR/admin-token,
// mode 0600, and read back on every later start, so sluicectl's token file keeps working.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin-token';

export type TokenResult = { readonly token: string; readonly file: string; readonly created: boolean; readonly warning?: string };

export function ensureAdminToken(dataDir: string): TokenResult {
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    const token = `sluice_${randomBytes(32).toString('base64url')}`;
    writeFileSync(file, `${token}\n`, { flag: 'wx', mode: 0o600 });
    return { token, file, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const token = readFileSync(file, 'utf8').trim();
  if (token.length < 16) throw new Error(`${file} holds no usable token (under 16 characters); delete it to have a new one made`);
  const mode = statSync(file).mode & 0o777;
  const warning = (mode & 0o077) !== 0 ? `${file} is readable by others (mode ${mode.toString(8)}); chmod 600 it` : undefined;
  return { token, file, created: false, warning };
}

/** Compares in constant time, so the answer's timing does not leak how much of a guess was right. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m === null) return false;
  const given = Buffer.from(m[1]);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}
