// The proxy's own identity: its X.509-SVID, key and trust bundle, read from files, checked,
// and turned into one TLS SecureContext. A reload builds a new context and swaps it in
// whole; handshakes take the context current when they start, so live connections keep
// the one they were made with and new ones get the new certificate. A file set that does
// not check out changes nothing.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { watch as watchDir, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import tls from 'node:tls';
// Not certs/index.ts: a proxy loads only the parts of certs/ it reads certificates with.
import { readBundle } from '../../certs/bundle.ts';
import { certificateBlocks, uriNames } from '../../certs/pem.ts';
import type { Result } from '../../certs/result.ts';
import { parseSpiffeId } from '../../certs/spiffe-id.ts';
import { caTrustDomains, leafSvidId } from '../../certs/svid-rules.ts';

export type SvidFiles = {
  /** The SVID first, then its intermediates. */
  readonly cert: string;
  readonly key: string;
  /** The roots peers are checked against. */
  readonly bundle: string;
};

export type LoadedSvid = {
  /** This proxy's SPIFFE ID. */
  readonly identity: string;
  /** Its trust domain: the only one whose peers are let in, or connected to. */
  readonly trustDomain: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprint: string;
  /** Roots in the bundle, so an operator can see an overlap rotation in progress. */
  readonly roots: number;
  /** The bundle's roots of our trust domain, PEM: the only ones TLS trusts for a peer. */
  readonly peerRoots: string;
  /** For clients (tls.connect's secureContext): trusts `peerRoots` only. */
  readonly context: tls.SecureContext;
  /** The PEM texts, for servers (tls.Server#setSecureContext builds its own context). */
  readonly pem: { readonly cert: string; readonly key: string; readonly bundle: string };
};

export type SvidStoreDeps = {
  readonly now: () => number;
  readonly log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
};

export class SvidStore {
  #files: SvidFiles;
  #deps: SvidStoreDeps;
  #current: LoadedSvid | null = null;
  /** The texts `#current` was built from: an unchanged file set keeps the same object. */
  #texts = '';
  #reloading: Promise<void> = Promise.resolve();
  /** The last refusal logged, so a poll does not repeat the same warning every time. */
  #lastError = '';

  constructor(files: SvidFiles, deps: SvidStoreDeps) {
    this.#files = files;
    this.#deps = deps;
  }

  /** The SVID new handshakes use; null until the first load succeeds. */
  current(): LoadedSvid | null {
    return this.#current;
  }

  /**
   * Reloads when a file changes, and every `pollMs` in case a change went unseen. Folders
   * are watched, not files, so a file renamed into place or a Kubernetes secret's symlink
   * swap counts. Returns the function that stops watching.
   */
  watch(pollMs = 30_000): () => void {
    let timer: NodeJS.Timeout | null = null;
    // Writers make several events per file (and write three files): reload once they settle.
    const soon = () => {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        void this.reload();
      }, 100);
      timer.unref();
    };
    const watchers: FSWatcher[] = [];
    for (const dir of new Set([this.#files.cert, this.#files.key, this.#files.bundle].map((f) => dirname(f)))) {
      try {
        const w = watchDir(dir, soon);
        w.on('error', () => {});
        w.unref();
        watchers.push(w);
      } catch (err) {
        this.#deps.log('warn', 'cannot watch the certificate folder; relying on polling and SIGHUP', { dir, error: (err as Error).message });
      }
    }
    const poll = setInterval(() => void this.reload(), pollMs);
    poll.unref();
    return () => {
      if (timer !== null) clearTimeout(timer);
      clearInterval(poll);
      for (const w of watchers) w.close();
    };
  }

  /** Reads and checks the files; on success the new SVID is what later handshakes use. */
  reload(): Promise<Result<LoadedSvid, string>> {
    // One at a time: a file event and a poll landing together must not interleave.
    const next = this.#reloading.then(() => this.#reloadOnce());
    this.#reloading = next.then(
      () => {},
      () => {},
    );
    return next;
  }

  async #reloadOnce(): Promise<Result<LoadedSvid, string>> {
    let texts: [string, string, string];
    try {
      texts = await Promise.all([readFile(this.#files.cert, 'utf8'), readFile(this.#files.key, 'utf8'), readFile(this.#files.bundle, 'utf8')]);
    } catch (err) {
      return this.#refuse(`cannot read the certificate files: ${(err as Error).message}`);
    }
    const joined = texts.join('\0');
    if (this.#current !== null && joined === this.#texts) return { ok: true, value: this.#current };
    const loaded = checkSvid(texts[0], texts[1], texts[2], this.#deps.now());
    if (!loaded.ok) return this.#refuse(loaded.error);
    const previous = this.#current;
    this.#current = loaded.value;
    this.#texts = joined;
    this.#lastError = '';
    if (previous?.fingerprint !== loaded.value.fingerprint || previous.roots !== loaded.value.roots) {
      this.#deps.log('info', 'certificate loaded', { identity: loaded.value.identity, not_after: loaded.value.notAfter.toISOString(), roots: loaded.value.roots });
      const foreign = loaded.value.roots - certificateBlocks(loaded.value.peerRoots).length;
      if (foreign > 0) this.#deps.log('warn', 'bundle roots of another trust domain vouch for no peer', { trust_domain: loaded.value.trustDomain, ignored_roots: foreign });
    }
    return loaded;
  }

  #refuse(error: string): Result<LoadedSvid, string> {
    if (error === this.#lastError) return { ok: false, error };
    this.#lastError = error;
    this.#deps.log('warn', 'certificate not loaded; keeping the current one', { error, current: this.#current?.identity ?? null });
    return { ok: false, error };
  }
}

/**
 * The checks a proxy makes before it presents a certificate: the key is the certificate's,
 * the certificate names exactly one SPIFFE ID and is no CA (the X.509-SVID rules its peers
 * check too), it is valid now, and it chains to a root of the bundle of its own trust domain.
 */
export function checkSvid(certPem: string, keyPem: string, bundlePem: string, now: number): Result<LoadedSvid, string> {
  const chain = certificateBlocks(certPem).map((b) => new X509Certificate(b));
  if (chain.length === 0) return { ok: false, error: 'the certificate file holds no certificate' };
  const leaf = chain[0];
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) return { ok: false, error: "the key is not the certificate's key" };
  } catch (err) {
    return { ok: false, error: `the key cannot be read: ${(err as Error).message}` };
  }
  const uris = uriNames(leaf);
  if (uris.length !== 1) return { ok: false, error: `an SVID names exactly one SPIFFE ID (URI SAN); this certificate has ${uris.length}` };
  const id = parseSpiffeId(uris[0]);
  if (!id.ok) return { ok: false, error: `the certificate's URI SAN is not a SPIFFE ID: ${id.error}` };
  if (leaf.ca || id.value.path === '') return { ok: false, error: `${id.value.uri} is a CA certificate, not a workload's SVID` };
  // What a peer would refuse it for (a CA flag or key usage that X509Certificate#ca misses): refused here first.
  const svid = leafSvidId(leaf);
  if (!svid.ok) return { ok: false, error: `the certificate is not a workload's SVID: ${svid.error}` };
  if (now < leaf.validFromDate.getTime()) return { ok: false, error: `the certificate is not valid before ${leaf.validFromDate.toISOString()}` };
  if (now >= leaf.validToDate.getTime()) return { ok: false, error: `the certificate expired at ${leaf.validToDate.toISOString()}` };
  const bundle = readBundle(bundlePem);
  if (!bundle.ok) return { ok: false, error: `bundle: ${bundle.error}` };
  const roots = bundle.value.map((r) => new X509Certificate(r));
  if (!chainsTo(chain, roots)) return { ok: false, error: 'the certificate does not chain to a root of the bundle' };
  // A bundle is one trust domain's: a root that names another (its spiffe://<trust domain>
  // URI SAN) vouches for no peer of ours, nor for us. A root that names none is taken as ours.
  const td = id.value.trustDomain;
  const ours = bundle.value.filter((_, i) => {
    const named = caTrustDomains(roots[i]);
    return named.length === 0 || named.includes(td);
  });
  if (!chainsTo(chain, ours.map((r) => new X509Certificate(r)))) return { ok: false, error: `the certificate chains to a root of the bundle that is not of trust domain ${td}` };
  const peerRoots = ours.join('');
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ cert: certPem, key: keyPem, ca: peerRoots, minVersion: 'TLSv1.2' });
  } catch (err) {
    return { ok: false, error: `TLS refused the certificate: ${(err as Error).message}` };
  }
  return {
    ok: true,
    value: {
      identity: id.value.uri,
      trustDomain: id.value.trustDomain,
      notBefore: leaf.validFromDate,
      notAfter: leaf.validToDate,
      fingerprint: leaf.fingerprint256,
      roots: roots.length,
      peerRoots,
      context,
      pem: { cert: certPem, key: keyPem, bundle: bundlePem },
    },
  };
}

/** Each certificate signed by the next, and the last by a root of the bundle (or one itself). */
function chainsTo(chain: readonly X509Certificate[], roots: readonly X509Certificate[]): boolean {
  for (let i = 0; i + 1 < chain.length; i++) if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey)) return false;
  const last = chain[chain.length - 1];
  return roots.some((root) => root.fingerprint256 === last.fingerprint256 || (last.checkIssued(root) && last.verify(root.publicKey)));
}
