// The proxy's identity across config reloads: the SVID store for the files the running
// config names, watched for rotation. A reload naming other files must load them before
// the config is accepted; a reload naming the same files re-reads them (SIGHUP rotates).

import { isAbsolute, join } from 'node:path';
import type { IdentityFiles } from '../config/model.ts';
import type { Result } from '../../certs/result.ts';
import { SvidStore, type LoadedSvid, type SvidStoreDeps } from './svid-store.ts';

/** What /certs shows. */
export type IdentityStatus = {
  identity: string;
  notBefore: string;
  notAfter: string;
  /** Seconds until the certificate expires (negative once it has). */
  expiresInSeconds: number;
  fingerprint: string;
  roots: number;
  files: IdentityFiles;
};

export class ProxyIdentity {
  #deps: SvidStoreDeps;
  #baseDir: string;
  #store: SvidStore | null = null;
  #files: IdentityFiles | null = null;
  #unwatch: (() => void) | null = null;

  /** `baseDir`: the config file's folder, which relative paths start from. */
  constructor(baseDir: string, deps: SvidStoreDeps) {
    this.#baseDir = baseDir;
    this.#deps = deps;
  }

  /** The SVID new handshakes use. */
  readonly current = (): LoadedSvid | null => this.#store?.current() ?? null;

  /** Makes `files` the identity (null: none). On failure nothing changes and the error says why. */
  async use(files: IdentityFiles | null): Promise<Result<LoadedSvid | null, string>> {
    if (files === null) {
      this.close();
      return { ok: true, value: null };
    }
    const resolved = { cert: this.#path(files.cert), key: this.#path(files.key), bundle: this.#path(files.bundle) };
    if (this.#store !== null && sameFiles(resolved, this.#files!)) {
      const r = await this.#store.reload();
      // The same files mid-rotation: keep serving the certificate already loaded.
      return r.ok || this.#store.current() === null ? r : { ok: true, value: this.#store.current() };
    }
    const store = new SvidStore(resolved, this.#deps);
    const loaded = await store.reload();
    if (!loaded.ok) return loaded;
    this.close();
    this.#store = store;
    this.#files = resolved;
    this.#unwatch = store.watch();
    return loaded;
  }

  status(): IdentityStatus | null {
    const svid = this.current();
    if (svid === null || this.#files === null) return null;
    return {
      identity: svid.identity,
      notBefore: svid.notBefore.toISOString(),
      notAfter: svid.notAfter.toISOString(),
      expiresInSeconds: Math.floor((svid.notAfter.getTime() - this.#deps.now()) / 1000),
      fingerprint: svid.fingerprint,
      roots: svid.roots,
      files: this.#files,
    };
  }

  close(): void {
    this.#unwatch?.();
    this.#unwatch = null;
    this.#store = null;
    this.#files = null;
  }

  #path(p: string): string {
    return isAbsolute(p) ? p : join(this.#baseDir, p);
  }
}

function sameFiles(a: IdentityFiles, b: IdentityFiles): boolean {
  return a.cert === b.cert && a.key === b.key && a.bundle === b.bundle;
}
