// The identity folder the certificate service's answers go into (svid-client.ts says how
// and why they are staged): its files, the staged ones a crash may leave, and the two
// repairs a start makes. Apart from the stream's state machine, which only asks for these.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../http/rescue.ts';
import { checkSvid, type LoadedSvid } from '../tls/svid-store.ts';

export type FolderFiles = { readonly cert: string; readonly key: string; readonly bundle: string; readonly stagedKey: string; readonly stagedCert: string; readonly stagedBundle: string; readonly workload: string; readonly stagedWorkload: string };

export class IdentityFolder {
  readonly dir: string;
  readonly files: FolderFiles;

  constructor(dir: string) {
    this.dir = dir;
    const f = (name: string) => join(dir, name);
    this.files = {
      cert: f('cert.pem'),
      key: f('key.pem'),
      bundle: f('bundle.pem'),
      workload: f('workload'),
      stagedKey: f('key.pem.new'),
      stagedCert: f('cert.pem.new'),
      stagedBundle: f('bundle.pem.new'),
      stagedWorkload: f('workload.new'),
    };
  }

  /**
   * A crash while a new identity moved into place: finish it, or drop staged files nothing
   * was issued for. `keepStagedKey`: a token is held, so key.pem.new may be the key a join
   * was paid for and never answered (kept for `unanswered`).
   */
  finishInterruptedInstall(now: number, keepStagedKey: boolean): void {
    const f = this.files;
    if (existsSync(f.stagedCert)) {
      this.commitStaged();
      return;
    }
    for (const p of [f.stagedBundle, f.stagedWorkload]) rmSync(p, { force: true });
    // An older layout's crash, between renaming cert.pem and key.pem.new into place.
    if (!existsSync(f.stagedKey)) return;
    const staged = readFileSync(f.stagedKey, 'utf8');
    const cert = existsSync(f.cert) ? readFileSync(f.cert, 'utf8') : '';
    const bundle = existsSync(f.bundle) ? readFileSync(f.bundle, 'utf8') : '';
    if (cert !== '' && checkSvid(cert, staged, bundle, now).ok) renameSync(f.stagedKey, f.key);
    else if (!keepStagedKey) rmSync(f.stagedKey, { force: true });
  }

  /** A complete staged identity (cert.pem.new written last) replaces the folder's: key, bundle, workload, then cert.pem. */
  commitStaged(): void {
    const f = this.files;
    for (const [from, to] of [[f.stagedKey, f.key], [f.stagedBundle, f.bundle], [f.stagedWorkload, f.workload], [f.stagedCert, f.cert]]) {
      if (existsSync(from)) renameSync(from, to);
    }
  }

  /** The key of a join whose answer never arrived (where a request puts a new one), to finish that join with. */
  unanswered(staged: boolean): { privateKeyPem: string; publicKeyPem: string } | null {
    const path = staged ? this.files.stagedKey : this.files.key;
    if (!existsSync(path)) return null;
    try {
      const privateKeyPem = readFileSync(path, 'utf8');
      const publicKeyPem = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
      return { privateKeyPem, publicKeyPem };
    } catch {
      return null; // not a key: a new one replaces it
    }
  }

  /** The folder's SVID when it checks out by `now`; null (and a warning) when it does not. */
  load(now: number, log: Logger): LoadedSvid | null {
    const f = this.files;
    if (![f.cert, f.key, f.bundle].every((p) => existsSync(p))) return null;
    const read = (p: string) => readFileSync(p, 'utf8');
    const r = checkSvid(read(f.cert), read(f.key), read(f.bundle), now);
    if (!r.ok) log('warn', 'the identity folder holds no usable SVID', { dir: this.dir, error: r.error });
    return r.ok ? r.value : null;
  }

  /** The Workload name kept in the folder; '' when none is. */
  workload(): string {
    try {
      return readFileSync(this.files.workload, 'utf8').trim();
    } catch {
      return '';
    }
  }
}

/** Write to a temporary name, flush, rename over: a reader sees the old file or the new one, never half of one. */
export function writeFileAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  // A leftover from a crash would keep its own mode: the key must be 0600 however it ends.
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
