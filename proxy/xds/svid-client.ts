// The proxy's side of the certificate service (xds/ca-service.ts): it makes its key pair,
// sends a CSR, and writes the SVID and trust bundle into its identity folder in the layout
// proxy/tls/svid-store.ts reads (cert.pem, key.pem 0600, bundle.pem), which picks them
// up as a rotation. It renews at half the lifetime, with jitter, over the same stream.
//
// Proof of identity: on a VM's first start, a join token (single use); from then on, the
// SVID itself, presented as the TLS client certificate, so a restarted proxy or a broken
// stream never needs a new token (SPIRE's agent re-attests with its SVID the same way).
//
// Files are never left as a key and a certificate that do not belong together: a new key
// goes to key.pem.new (0600) before its CSR leaves, and only once the certificate for it
// has arrived do cert.pem, bundle.pem and then key.pem.new move into place, each by rename.
// When the certificate arrives, bundle.pem.new and workload.new are written, then cert.pem.new
// last: with it on disk the new identity is complete, and key, bundle, workload and then
// cert.pem move into place, each by rename. A crash part-way is finished at the next start
// (cert.pem.new still there); before cert.pem.new, the old identity stays as it was.
// On the very first join there is no pair to break, so the key goes straight to key.pem.
//
// An explicit token and a folder that already holds a valid SVID for the token's identity:
// the folder's SVID is tried first (a renewal, presenting it), and the token is spent only
// when the control plane refuses that SVID (its Workload deleted, a CA it no longer trusts,
// expired by its clock): then a new key and the token join afresh, staged as above, so a
// token the control plane also refuses leaves the folder as it was. A folder whose SVID is
// expired by our own clock goes straight to the token.
//
// A join whose answer was lost (the proxy stopped, crashed or could not write between its
// CSR and the certificate) is finished on the next start with the key already on disk and
// the same token: the control plane honours a used token again for the key it was used for
// (control-plane/ca/join-tokens.ts), so a failed start never strands a spent token.
//
// The folder also keeps the Workload's name (`workload`): an SVID names only a namespace and
// a service account, and a restarted proxy must say which Workload it is (its node.id) before
// the control plane has told it anything. A folder without it asks the control plane first.

import { existsSync, mkdirSync, rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { createCsr } from '../../certs/csr.ts';
import { generateKeyPair } from '../../certs/keys.ts';
import { renewalDelay } from '../../certs/rotation.ts';
import { parseSpiffeId, workloadOf } from '../../certs/spiffe-id.ts';
import { dialControlPlane, dialFailure, isCertificateFailure } from '../../xds/dial.ts';
import { CERTIFICATE_SERVICE, CERTIFY_PATH, ERROR_CODE_METADATA, type CertificateRequest, type CertificateResponse } from '../../xds/ca-service.ts';
import type { Logger } from '../http/rescue.ts';
import { checkSvid, type LoadedSvid } from '../tls/svid-store.ts';
import { IdentityFolder, writeFileAtomic, type FolderFiles } from './identity-folder.ts';

export type SvidClientOptions = {
  /** The control plane's :15012, as HOST:PORT. */
  readonly address: string;
  /** PEM roots to check the control plane's certificate with, until it sends its own bundle (the token file's). */
  readonly trustBundle: string;
  /** The identity folder: cert.pem, key.pem, bundle.pem. */
  readonly dir: string;
  /** For the first join only; ignored when the folder already holds a valid SVID for `identity`. */
  readonly joinToken?: string;
  /**
   * A pod's projected service-account token (its file, read again at each join: the kubelet
   * renews it), sent as `kubernetes_token` where a VM sends its join token; the control plane
   * has the Kubernetes API review it (TokenReview). Instead of joinToken.
   */
  readonly podToken?: () => string;
  /** The SPIFFE ID the token is bound to (the token file's `identity:`; a pod's service account's); required with joinToken or podToken. */
  readonly identity?: string;
  /** The Workload's name, sent as a hint when re-authenticating with the SVID. */
  readonly workload?: string;
  /** The name the control plane's certificate must carry; default the address's host. */
  readonly serverName?: string;
};

/** Timers, injectable so a test can fire a renewal or a reconnect when it chooses. */
export type Timers = {
  set(fn: () => void, ms: number, what: 'renewal' | 'reconnect'): unknown;
  clear(handle: unknown): void;
};

export type SvidClientDeps = {
  readonly now: () => number;
  readonly log: Logger;
  /** [0, 1), for the renewal jitter and the backoff. */
  readonly random: () => number;
  readonly timers?: Timers;
};

export type IssuedSvid = {
  readonly svid: LoadedSvid;
  readonly workload: string;
  readonly namespace: string;
  /** `files`: found in the folder at start; `join-token` and `renewal`: just issued. */
  readonly source: 'files' | 'join-token' | 'renewal';
};

/** Refusals that retrying with the same proof cannot fix, before any SVID is held. */
const PERMANENT = new Set([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED, grpc.status.INVALID_ARGUMENT]);
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 60_000;

const realTimers: Timers = { set: (fn, ms) => setTimeout(fn, ms), clear: (h) => clearTimeout(h as NodeJS.Timeout) };

export class SvidClient {
  readonly #opts: SvidClientOptions;
  readonly #deps: SvidClientDeps;
  readonly #timers: Timers;
  readonly #folder: IdentityFolder;
  readonly #files: FolderFiles;
  readonly #listeners = new Set<(issued: IssuedSvid) => void>();
  #current: LoadedSvid | null = null;
  #workload: string;
  #token: string | undefined;
  /** A token held back while the folder's SVID is tried: spent only if the control plane refuses that SVID. */
  #fallback: string | undefined;
  /** Why the control plane refused the folder's SVID, once it has: said again if the token is refused too. */
  #folderRefused: string | null = null;
  /** key.pem.new was on disk at start (a join whose answer may have been lost): never dropped for a dial failure. */
  #stagedAtStart = false;
  #client: grpc.Client | null = null;
  #call: grpc.ClientDuplexStream<CertificateRequest, CertificateResponse> | null = null;
  #pending: { id: string; keyPem: string; staged: boolean } | null = null;
  #renewalDue = false;
  #renewTimer: unknown = null;
  #reconnectTimer: unknown = null;
  #attempts = 0;
  #requests = 0;
  #closed = false;
  #ready: { resolve: (i: IssuedSvid) => void; reject: (e: Error) => void } | null = null;

  constructor(opts: SvidClientOptions, deps: SvidClientDeps) {
    if (opts.joinToken !== undefined && opts.podToken !== undefined) throw new Error('a join token or a pod token, not both');
    if ((opts.joinToken !== undefined || opts.podToken !== undefined) && opts.identity === undefined) throw new Error('a join token needs the identity it is bound to (the token file names it)');
    this.#opts = opts;
    this.#deps = deps;
    this.#timers = deps.timers ?? realTimers;
    this.#workload = opts.workload ?? '';
    this.#token = opts.joinToken ?? (opts.podToken === undefined ? undefined : 'pod');
    this.#folder = new IdentityFolder(opts.dir);
    this.#files = this.#folder.files;
  }

  /**
   * Resolves once an SVID is in the folder: at once when a valid one is already there,
   * else after the first join. Rejects when there is neither an SVID nor a token, or the
   * control plane refuses the token. Call once.
   */
  start(): Promise<IssuedSvid> {
    mkdirSync(this.#opts.dir, { recursive: true, mode: 0o700 });
    this.#folder.finishInterruptedInstall(this.#deps.now(), this.#token !== undefined);
    this.#stagedAtStart = existsSync(this.#files.stagedKey);
    const held = existsSync(this.#files.cert);
    const found = this.#folder.load(this.#deps.now(), this.#deps.log);
    // A token for another identity than the folder's means a deliberate re-join.
    if (found !== null && (this.#token === undefined || found.identity === this.#opts.identity)) {
      this.#current = found;
      this.#fallback = this.#token;
      this.#token = undefined;
      if (this.#workload === '') this.#workload = this.#folder.workload();
    } else if (this.#token !== undefined && held) {
      const why = found === null ? 'the identity folder holds no usable SVID' : `the token is for ${this.#opts.identity}, the identity folder's SVID for ${found.identity}`;
      this.#deps.log('info', `${why}: joining afresh with the token; the folder's identity is replaced once the new certificate is written`, { dir: this.#opts.dir });
    }
    if (this.#current === null && this.#token === undefined) {
      return Promise.reject(new Error(`${this.#opts.dir} holds no valid SVID and no join token was given: mint one with sluicectl token create`));
    }
    const ready = new Promise<IssuedSvid>((resolve, reject) => (this.#ready = { resolve, reject }));
    if (this.#fallback !== undefined) {
      this.#deps.log('info', 'a join token was given and the identity folder holds a valid SVID: asking the control plane to renew that SVID before spending the token', { identity: this.#current!.identity, workload: this.#workload });
      this.#renewalDue = true;
    } else if (this.#current !== null && this.#workload !== '') {
      this.#deps.log('info', 'using the SVID found in the identity folder', { identity: this.#current.identity, workload: this.#workload, not_after: this.#current.notAfter.toISOString() });
      const id = parseSpiffeId(this.#current.identity);
      const namespace = (id.ok ? workloadOf(id.value)?.namespace : undefined) ?? '';
      this.#issued({ svid: this.#current, workload: this.#workload, namespace, source: 'files' });
    } else this.#renewalDue = true;
    this.#connect();
    return ready;
  }

  /** Called after each SVID is in place (the first one, and each renewal). Returns the unsubscribe. */
  onIssued(fn: (issued: IssuedSvid) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  current(): LoadedSvid | null {
    return this.#current;
  }

  /** Stops renewing and closes the stream; the files stay. */
  close(): void {
    this.#closed = true;
    for (const t of [this.#renewTimer, this.#reconnectTimer]) if (t !== null) this.#timers.clear(t);
    this.#call?.cancel();
    this.#client?.close();
    this.#ready?.reject(new Error('the certificate client was closed before it got an SVID'));
  }

  // --- the stream ---

  #connect(): void {
    this.#reconnectTimer = null;
    if (this.#closed) return;
    const bundle = this.#current?.pem.bundle ?? this.#opts.trustBundle;
    const dial = this.#opts.serverName === undefined ? dialControlPlane(this.#opts.address) : { options: { 'grpc.ssl_target_name_override': this.#opts.serverName, 'grpc.default_authority': this.#opts.serverName }, verify: {} };
    const creds =
      this.#current === null
        ? grpc.credentials.createSsl(Buffer.from(bundle), null, null, dial.verify)
        : grpc.credentials.createSsl(Buffer.from(bundle), Buffer.from(this.#current.pem.key), Buffer.from(this.#current.pem.cert), dial.verify);
    const options = dial.options;
    const client = new grpc.Client(this.#opts.address, creds, options);
    const { requestSerialize, responseDeserialize } = CERTIFICATE_SERVICE.Certify;
    const call = client.makeBidiStreamRequest(CERTIFY_PATH, requestSerialize, responseDeserialize, new grpc.Metadata(), {});
    this.#client = client;
    this.#call = call;
    call.on('data', (res: CertificateResponse) => this.#onResponse(res));
    call.on('error', () => {}); // 'status' follows and says everything
    call.on('status', (s: grpc.StatusObject) => this.#onStreamEnd(call, s));
    if (this.#renewalDue) this.#request();
  }

  #request(): void {
    if (this.#call === null || this.#pending !== null) return;
    const identity = this.#current?.identity ?? this.#opts.identity!;
    const staged = existsSync(this.#files.cert);
    // A staged key may be one a token was spent for, its answer lost: the renewal that tries the folder's SVID before the token keeps it too.
    const keys = (this.#current === null || this.#fallback !== undefined ? this.#folder.unanswered(staged) : null) ?? generateKeyPair();
    // The key is on disk before the CSR leaves: a certificate never arrives for a key that is lost.
    writeFileAtomic(staged ? this.#files.stagedKey : this.#files.key, keys.privateKeyPem, 0o600);
    const id = `${++this.#requests}`;
    this.#pending = { id, keyPem: keys.privateKeyPem, staged };
    const token = this.#current === null ? (this.#token ?? '') : '';
    const csr = createCsr(keys.privateKeyPem, keys.publicKeyPem, identity);
    if (this.#opts.podToken !== undefined) this.#call.write({ csr, join_token: '', kubernetes_token: token === '' ? '' : this.#podToken(), request_id: id, workload: this.#workload });
    else this.#call.write({ csr, join_token: token, request_id: id, workload: this.#workload });
  }

  /** The pod's token as the kubelet last wrote it; '' (the control plane then says what proof is missing) when the file cannot be read. */
  #podToken(): string {
    try {
      return this.#opts.podToken!().trim();
    } catch (err) {
      this.#deps.log('warn', 'the service-account token file cannot be read', { error: (err as Error).message });
      return '';
    }
  }

  #onResponse(res: CertificateResponse): void {
    const pending = this.#pending;
    if (pending === null || res.request_id !== pending.id) return;
    this.#pending = null;
    const checked = checkSvid(res.cert_chain, pending.keyPem, res.trust_bundle, this.#deps.now());
    const expected = this.#current?.identity ?? this.#opts.identity;
    if (!checked.ok || checked.value.identity !== expected) {
      this.#deps.log('error', 'the control plane sent a certificate this proxy cannot use; retrying', { error: checked.ok ? `it names ${checked.value.identity}, not ${expected}` : checked.error });
      this.#call?.cancel();
      return;
    }
    if (pending.staged) {
      // The whole new identity beside the old one, cert.pem.new last: from then on it replaces the old one, even across a crash.
      writeFileAtomic(this.#files.stagedBundle, res.trust_bundle, 0o644);
      if (res.workload !== '') writeFileAtomic(this.#files.stagedWorkload, `${res.workload}\n`, 0o644);
      writeFileAtomic(this.#files.stagedCert, res.cert_chain, 0o644);
      this.#folder.commitStaged();
    } else {
      writeFileAtomic(this.#files.cert, res.cert_chain, 0o644);
      writeFileAtomic(this.#files.bundle, res.trust_bundle, 0o644);
      if (res.workload !== '' && res.workload !== this.#folder.workload()) writeFileAtomic(this.#files.workload, `${res.workload}\n`, 0o644);
    }
    const source = this.#current === null ? 'join-token' : 'renewal';
    if (this.#fallback !== undefined) {
      // The line a restart without a token writes too, and what became of the token.
      this.#deps.log('info', 'using the SVID found in the identity folder', { identity: checked.value.identity, workload: res.workload, not_after: checked.value.notAfter.toISOString(), join_token: 'not needed: the control plane renewed the SVID, the token is not spent' });
      this.#fallback = undefined;
    } else if (source === 'join-token' && this.#folderRefused !== null) {
      this.#deps.log('info', 'joined afresh with the token: the identity folder now holds the new identity', { identity: checked.value.identity, workload: res.workload });
    }
    this.#current = checked.value;
    this.#token = undefined;
    this.#workload = res.workload;
    this.#attempts = 0;
    this.#deps.log('info', 'svid received', { identity: checked.value.identity, not_after: checked.value.notAfter.toISOString(), source });
    this.#issued({ svid: checked.value, workload: res.workload, namespace: res.namespace, source });
  }

  #issued(issued: IssuedSvid): void {
    this.#renewalDue = false;
    if (this.#renewTimer !== null) this.#timers.clear(this.#renewTimer);
    const { notBefore, notAfter } = issued.svid;
    this.#renewTimer = this.#timers.set(
      () => {
        this.#renewTimer = null;
        this.#renewalDue = true;
        this.#request(); // without a stream, the reconnect sends it
      },
      renewalDelay(notBefore, notAfter, this.#deps.now(), this.#deps.random),
      'renewal',
    );
    this.#ready?.resolve(issued);
    this.#ready = null;
    for (const fn of this.#listeners) fn(issued);
  }

  #onStreamEnd(call: grpc.ClientDuplexStream<CertificateRequest, CertificateResponse>, status: grpc.StatusObject): void {
    if (call !== this.#call) return;
    this.#call = null;
    this.#client?.close();
    this.#client = null;
    if (this.#pending !== null) this.#renewalDue = true;
    this.#pending = null;
    if (this.#closed) return;
    const code = status.metadata.get(ERROR_CODE_METADATA)[0]?.toString() ?? grpc.status[status.code];
    // The folder's SVID, tried before the token, refused or not of this control plane's CA: the token joins afresh.
    if (this.#fallback !== undefined && this.#current !== null) {
      // Only a refusal of the SVID: an address that cannot work (a typo'd host, the API port) fails the token too, unspent, below.
      const refused = PERMANENT.has(status.code) ? `${code}: ${status.details}` : status.code === grpc.status.UNAVAILABLE && isCertificateFailure(status.details) ? dialFailure(status.details, this.#opts.address) : null;
      if (refused !== null) {
        this.#deps.log('warn', 'the control plane refused the identity folder\'s SVID: joining afresh with the token; the folder\'s identity is replaced once the new certificate is written', { dir: this.#opts.dir, code, error: refused });
        this.#folderRefused = refused;
        this.#current = null;
        this.#token = this.#fallback;
        this.#fallback = undefined;
        this.#renewalDue = true;
        this.#attempts = 0;
        this.#connect();
        return;
      }
    }
    // A first join that cannot reach the control plane however often it tries (a typo'd host, its HTTP port, another CA).
    const unreachable = (this.#current === null || this.#fallback !== undefined) && status.code === grpc.status.UNAVAILABLE ? dialFailure(status.details, this.#opts.address) : null;
    const before = this.#folderRefused === null ? '' : `the control plane refused the identity folder's SVID (${this.#folderRefused}), and then the token: `;
    if (unreachable !== null) {
      // Nothing went out for a key staged by this start: the folder stays as it was.
      if (!this.#stagedAtStart && existsSync(this.#files.cert)) rmSync(this.#files.stagedKey, { force: true });
      this.#ready?.reject(Object.assign(new Error(`${before}${unreachable}`), { code: 'UNREACHABLE' }));
      this.#ready = null;
      this.close();
      return;
    }
    if (this.#current === null && PERMANENT.has(status.code)) {
      this.#deps.log('error', 'the control plane refused to certify this proxy', { code, error: status.details });
      // Nothing was issued for a staged key the token was refused for: the folder stays exactly as it was.
      if (existsSync(this.#files.cert)) rmSync(this.#files.stagedKey, { force: true });
      this.#ready?.reject(Object.assign(new Error(`${before}the control plane refused to certify this proxy: ${status.details}`), { code }));
      this.#ready = null;
      this.close();
      return;
    }
    // Exponential, with jitter so a fleet cut off together does not come back together.
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.#attempts++) * (0.5 + this.#deps.random() / 2);
    this.#deps.log(status.code === grpc.status.OK ? 'info' : 'warn', 'certificate stream ended; reconnecting', { code, error: status.details, in_ms: Math.round(delay) });
    this.#reconnectTimer = this.#timers.set(() => this.#connect(), delay, 'reconnect');
  }
}
