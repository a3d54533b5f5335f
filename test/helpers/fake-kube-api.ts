// A fake Kubernetes API server for tests: no kube-apiserver runs on these machines, so
// this one speaks the wire format a real one does, for the resources Sluice reads and
// writes, and nothing more.
//
// - Paths: /api/v1/[namespaces/NS/]PLURAL[/NAME[/status]] and /apis/GROUP/VERSION/...
// - resourceVersion: one counter for every object (etcd's revision), as a decimal string.
// - list: `{kind: XList, apiVersion, metadata: {resourceVersion}, items}`; items of built-in
//   groups come without apiVersion/kind (a real server leaves them out; CRD items keep them).
// - watch (`?watch=1`): newline-delimited `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR",
//   "object":...}`. resourceVersion absent or "0": every current object as ADDED, then live
//   events; N: every event after N. N older than the kept history: an ERROR event holding
//   a Status with code 410, reason Expired (what a real server sends), and the stream ends.
//   allowWatchBookmarks=true: a BOOKMARK every `bookmarkMs` and on `bookmarkNow()`.
// - create (POST) / update (PUT) / merge-patch (PATCH) / delete (DELETE): 409 AlreadyExists,
//   409 Conflict on a stale resourceVersion, 404 NotFound, 422 Invalid, as Status objects.
//   A custom resource's PUT needs metadata.resourceVersion (a real server refuses one
//   without). Where a kind has a /status subresource, the main resource ignores status and
//   /status changes only status.
// - TokenReview (authentication.k8s.io/v1): tokens a test registers are
//   system:serviceaccount:NS:SA, for the audiences given.
// - Every request needs `Authorization: Bearer <adminToken>` (401 otherwise), as the
//   kubeconfig from `writeKubeconfig` sends.
//
// `requests` records every call, so a test can see what a client really asked for.

import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { KINDS } from '../../control-plane/api/descriptors.ts';
import { servingCertificate } from '../../control-plane/ca/ca-dir.ts';
import { newCa } from './mesh-pki.ts';
import { apiVersionOf, conflict, invalid, managedEntry, mergePatch, notFound, parsePath, readJson, reply, status, tokenReview, userAgent, type TokenIdentity } from './fake-kube-wire.ts';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; generation?: number; creationTimestamp?: string; managedFields?: unknown[]; [k: string]: unknown };
  spec?: unknown;
  status?: unknown;
  [k: string]: unknown;
};

/** One resource type the fake serves. */
export type FakeResource = {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  readonly statusSubresource: boolean;
  /** A CRD (custom resource): keeps apiVersion/kind in list items, has generation, needs resourceVersion on PUT. */
  readonly custom: boolean;
};

const BUILT_IN: readonly FakeResource[] = [
  { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, statusSubresource: true, custom: false },
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, statusSubresource: true, custom: false },
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, statusSubresource: true, custom: false },
  { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, statusSubresource: true, custom: false },
  { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true, statusSubresource: false, custom: false },
];

/** Every kind Sluice serves that is not core (our CRDs and Gateway API's routes), plus the join-token records (a CRD without a status subresource). */
export const FAKE_RESOURCES: readonly FakeResource[] = [
  ...BUILT_IN,
  ...KINDS.filter((k) => k.group !== '').map((k) => ({ group: k.group, version: k.version, kind: k.kind, plural: k.plural, namespaced: k.scope === 'Namespaced', statusSubresource: true, custom: true })),
  { group: 'ca.sluice.dev', version: 'v1', kind: 'JoinToken', plural: 'jointokens', namespaced: true, statusSubresource: false, custom: true },
  { group: 'ca.sluice.dev', version: 'v1', kind: 'ZoneToken', plural: 'zonetokens', namespaced: true, statusSubresource: false, custom: true },
];

export type { TokenIdentity } from './fake-kube-wire.ts';

export type RecordedRequest = { readonly method: string; readonly path: string; readonly query: string; readonly body?: unknown };

type Event = { readonly rv: number; readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly res: FakeResource; readonly object: KubeObject };
type Watcher = { readonly res: FakeResource; readonly namespace?: string; readonly response: ServerResponse; readonly bookmarks: boolean };

export type FakeKubeApiOptions = {
  /** Serve HTTPS with a certificate of a fresh CA (in the kubeconfig). Default true. */
  readonly tls?: boolean;
  /** How often a watch that allows bookmarks gets one. Default 1000 ms. */
  readonly bookmarkMs?: number;
};

export class FakeKubeApi {
  readonly adminToken = `admin-${randomUUID()}`;
  readonly requests: RecordedRequest[] = [];
  #server!: Server;
  #url = '';
  #caPem: string | undefined;
  #rv = 0;
  /** Events after this revision are kept; a watch from before it gets 410. */
  #compactedAt = 0;
  #history: Event[] = [];
  #objects = new Map<string, KubeObject>();
  #watchers = new Set<Watcher>();
  #tokens = new Map<string, TokenIdentity>();
  #bookmarkTimer: NodeJS.Timeout | undefined;
  readonly #opts: FakeKubeApiOptions;

  private constructor(opts: FakeKubeApiOptions) {
    this.#opts = opts;
  }

  static async start(opts: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const api = new FakeKubeApi(opts);
    const handler = (req: IncomingMessage, res: ServerResponse) => void api.#handle(req, res);
    if (opts.tls ?? true) {
      const ca = newCa('kube.test');
      const serving = servingCertificate(ca, '127.0.0.1', Date.now());
      api.#caPem = ca.bundle;
      api.#server = createHttpsServer({ cert: serving.cert, key: serving.key }, handler);
    } else {
      api.#server = createHttpServer(handler);
    }
    await new Promise<void>((resolve) => api.#server.listen(0, '127.0.0.1', resolve));
    const { port } = api.#server.address() as { port: number };
    api.#url = `${opts.tls ?? true ? 'https' : 'http'}://127.0.0.1:${port}`;
    api.#bookmarkTimer = setInterval(() => api.bookmarkNow(), opts.bookmarkMs ?? 1000);
    api.#bookmarkTimer.unref();
    return api;
  }

  get url(): string {
    return this.#url;
  }

  /** The current resourceVersion (the last write's). */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** A kubeconfig for this server (its CA, the admin token); returns the file's path. */
  writeKubeconfig(dir: string): string {
    const file = join(dir, 'kubeconfig');
    const cluster = this.#caPem === undefined ? { server: this.#url } : { server: this.#url, 'certificate-authority-data': Buffer.from(this.#caPem).toString('base64') };
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster }],
      users: [{ name: 'admin', user: { token: this.adminToken } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'admin' } }],
      'current-context': 'fake',
    };
    writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
    return file;
  }

  /** A service-account token the TokenReview endpoint will accept. */
  registerToken(token: string, identity: TokenIdentity): void {
    this.#tokens.set(token, identity);
  }

  /**
   * Puts an object as a controller would (a fixture: a Pod the scheduler placed, an
   * EndpointSlice the endpoint controller wrote): kept as given, except resourceVersion,
   * which becomes the next revision. Watches see ADDED or MODIFIED; with `lost`, no watch
   * ever sees it (an event lost on the way: only a new list shows the change).
   */
  put(object: KubeObject, opts: { lost?: boolean } = {}): KubeObject {
    const res = this.#resourceOf(object);
    const k = this.#key(res, object.metadata.namespace, object.metadata.name);
    const existed = this.#objects.has(k);
    const stored = structuredClone(object);
    stored.apiVersion = apiVersionOf(res);
    stored.kind = res.kind;
    stored.metadata.uid ??= randomUUID();
    stored.metadata.creationTimestamp ??= new Date().toISOString();
    return this.#commit(res, existed ? 'MODIFIED' : 'ADDED', stored, opts.lost);
  }

  /** Removes an object as a controller would; watches see DELETED. */
  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): void {
    const res = this.#resourceOf({ apiVersion, kind });
    const current = this.#objects.get(this.#key(res, namespace, name));
    if (current === undefined) throw new Error(`no ${kind} ${namespace ?? ''}/${name}`);
    this.#commit(res, 'DELETED', structuredClone(current));
  }

  /** The object as stored, or undefined. */
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const res = this.#resourceOf({ apiVersion, kind });
    const o = this.#objects.get(this.#key(res, namespace, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  /** Forgets every event so far: a watch resuming from any earlier resourceVersion gets 410 Gone. */
  compact(): void {
    this.#compactedAt = this.#rv;
    this.#history = [];
  }

  /** Ends every open watch stream, as a server restart or a load balancer would. */
  dropWatches(): void {
    for (const w of this.#watchers) w.response.end();
    this.#watchers.clear();
  }

  /** How many watch streams are open now. */
  get openWatches(): number {
    return this.#watchers.size;
  }

  /** Sends a BOOKMARK with the current resourceVersion to every watch that allows them. */
  bookmarkNow(): void {
    for (const w of this.#watchers) {
      if (!w.bookmarks) continue;
      this.#send(w, { type: 'BOOKMARK', object: { kind: w.res.kind, apiVersion: apiVersionOf(w.res), metadata: { resourceVersion: String(this.#rv) } } });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#bookmarkTimer);
    this.dropWatches();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  // --- storage ---

  #resourceOf(object: { apiVersion?: string; kind?: string }): FakeResource {
    const res = FAKE_RESOURCES.find((r) => r.kind === object.kind && apiVersionOf(r) === object.apiVersion);
    if (res === undefined) throw new Error(`the fake API server does not serve ${object.apiVersion} ${object.kind}`);
    return res;
  }

  #key(res: FakeResource, namespace: string | undefined, name: string): string {
    return `${res.plural}.${res.group}/${namespace ?? ''}/${name}`;
  }

  #commit(res: FakeResource, type: Event['type'], object: KubeObject, lost = false): KubeObject {
    this.#rv += 1;
    object.metadata.resourceVersion = String(this.#rv);
    const k = this.#key(res, object.metadata.namespace, object.metadata.name);
    if (type === 'DELETED') this.#objects.delete(k);
    else this.#objects.set(k, object);
    if (lost) return structuredClone(object);
    const event: Event = { rv: this.#rv, type, res, object: structuredClone(object) };
    this.#history.push(event);
    for (const w of this.#watchers) if (matches(w, event)) this.#send(w, { type, object: event.object });
    return structuredClone(object);
  }

  #send(w: Watcher, line: object): void {
    if (!w.response.writableEnded) w.response.write(`${JSON.stringify(line)}\n`);
  }

  // --- HTTP ---

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    let body: unknown;
    try {
      body = await readJson(req);
    } catch (err) {
      return reply(res, 400, status(400, 'BadRequest', `the body is not JSON: ${(err as Error).message}`));
    }
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.search, ...(body === undefined ? {} : { body }) });
    if (req.headers.authorization !== `Bearer ${this.adminToken}`) return reply(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews' && req.method === 'POST') return tokenReview(res, body, this.#tokens);
    const route = parsePath(url.pathname);
    if (route === undefined) return reply(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    const r = FAKE_RESOURCES.find((x) => x.group === route.group && x.version === route.version && x.plural === route.plural);
    if (r === undefined) return reply(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    if (r.namespaced !== (route.namespace !== undefined) && route.name !== undefined) return reply(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    if (route.subresource !== undefined && (route.subresource !== 'status' || !r.statusSubresource)) return reply(res, 404, status(404, 'NotFound', `${r.plural} has no subresource ${route.subresource}`));
    const method = req.method ?? 'GET';
    if (route.name === undefined) {
      if (method === 'GET') {
        const w = url.searchParams.get('watch');
        if (w === '1' || w === 'true') return this.#watch(res, r, route.namespace, url.searchParams);
        return this.#list(res, r, route.namespace);
      }
      if (method === 'POST') return this.#create(res, r, route.namespace, body, url.searchParams.get('fieldManager') ?? userAgent(req));
      return reply(res, 405, status(405, 'MethodNotAllowed', `${method} is not allowed on a collection`));
    }
    const k = this.#key(r, route.namespace, route.name);
    const current = this.#objects.get(k);
    const what = `${r.plural}${r.group === '' ? '' : `.${r.group}`} "${route.name}"`;
    if (method === 'GET') return current === undefined ? reply(res, 404, notFound(r, route.name)) : reply(res, 200, current);
    if (current === undefined) return reply(res, 404, notFound(r, route.name));
    const manager = url.searchParams.get('fieldManager') ?? userAgent(req);
    if (method === 'DELETE') {
      const pre = (body as { preconditions?: { resourceVersion?: string } } | undefined)?.preconditions?.resourceVersion;
      if (pre !== undefined && pre !== current.metadata.resourceVersion) return reply(res, 409, conflict(what));
      return reply(res, 200, this.#commit(r, 'DELETED', structuredClone(current)));
    }
    let incoming: KubeObject;
    if (method === 'PUT') {
      incoming = body as KubeObject;
    } else if (method === 'PATCH') {
      const type = req.headers['content-type'] ?? '';
      if (!type.startsWith('application/merge-patch+json')) return reply(res, 415, status(415, 'UnsupportedMediaType', `the fake serves only application/merge-patch+json patches, not ${type}`));
      incoming = mergePatch(structuredClone(current), body) as KubeObject;
    } else {
      return reply(res, 405, status(405, 'MethodNotAllowed', `${method} is not allowed`));
    }
    if (typeof incoming !== 'object' || incoming === null || typeof incoming.metadata !== 'object' || incoming.metadata === null) return reply(res, 400, status(400, 'BadRequest', 'the body must be an object with metadata'));
    if (incoming.metadata.name !== route.name) return reply(res, 400, status(400, 'BadRequest', `the name of the object (${incoming.metadata.name}) does not match the name on the URL (${route.name})`));
    const rv = incoming.metadata.resourceVersion;
    if (rv === undefined && method === 'PUT' && r.custom) return reply(res, 422, invalid(r, route.name, 'metadata.resourceVersion', 'must be specified for an update'));
    if (rv !== undefined && rv !== current.metadata.resourceVersion) return reply(res, 409, conflict(what));
    const next = structuredClone(current);
    if (route.subresource === 'status') {
      next.status = incoming.status;
    } else {
      for (const [f, v] of Object.entries(incoming)) if (f !== 'metadata' && f !== 'status' && f !== 'apiVersion' && f !== 'kind') next[f] = v;
      for (const f of Object.keys(next)) if (!(f in incoming) && f !== 'metadata' && f !== 'status' && f !== 'apiVersion' && f !== 'kind') delete next[f];
      if (!r.statusSubresource) next.status = incoming.status;
      const { labels, annotations, ownerReferences, finalizers } = incoming.metadata;
      Object.assign(next.metadata, { labels, annotations, ownerReferences, finalizers });
      for (const f of ['labels', 'annotations', 'ownerReferences', 'finalizers']) if (next.metadata[f] === undefined) delete next.metadata[f];
      if (r.custom && !isDeepStrictEqual(next.spec, current.spec)) next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    }
    if (isDeepStrictEqual(next, current)) return reply(res, 200, current);
    next.metadata.managedFields = [...(current.metadata.managedFields ?? []).filter((m) => (m as { manager?: string }).manager !== manager || (m as { subresource?: string }).subresource !== route.subresource), managedEntry(r, manager, route.subresource)];
    return reply(res, 200, this.#commit(r, 'MODIFIED', next));
  }

  #list(res: ServerResponse, r: FakeResource, namespace: string | undefined): void {
    const items = [...this.#objects.entries()]
      .filter(([k, o]) => k.startsWith(`${r.plural}.${r.group}/`) && (namespace === undefined || o.metadata.namespace === namespace))
      .map(([, o]) => {
        if (r.custom) return o;
        const { apiVersion: _a, kind: _k, ...rest } = o;
        return rest;
      });
    reply(res, 200, { kind: `${r.kind}List`, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(this.#rv) }, items });
  }

  #watch(res: ServerResponse, r: FakeResource, namespace: string | undefined, q: URLSearchParams): void {
    const rvText = q.get('resourceVersion') ?? '';
    const from = rvText === '' || rvText === '0' ? undefined : Number(rvText);
    if (from !== undefined && (!Number.isSafeInteger(from) || from < 0)) return reply(res, 400, status(400, 'BadRequest', `invalid resource version: ${rvText}`));
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { res: r, namespace, response: res, bookmarks: q.get('allowWatchBookmarks') === 'true' };
    if (from !== undefined && from < this.#compactedAt) {
      this.#send(w, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.#compactedAt})`) });
      res.end();
      return;
    }
    if (from === undefined) {
      for (const [k, o] of this.#objects) if (k.startsWith(`${r.plural}.${r.group}/`) && (namespace === undefined || o.metadata.namespace === namespace)) this.#send(w, { type: 'ADDED', object: o });
    } else {
      for (const e of this.#history) if (e.rv > from && matches(w, e)) this.#send(w, { type: e.type, object: e.object });
    }
    this.#watchers.add(w);
    res.on('close', () => this.#watchers.delete(w));
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (timeout > 0) {
      const t = setTimeout(() => res.end(), timeout * 1000);
      res.on('close', () => clearTimeout(t));
    }
  }

  #create(res: ServerResponse, r: FakeResource, namespace: string | undefined, body: unknown, manager: string): void {
    const o = body as KubeObject;
    if (typeof o !== 'object' || o === null || typeof o.metadata !== 'object' || o.metadata === null) return reply(res, 400, status(400, 'BadRequest', 'the body must be an object with metadata'));
    if (typeof o.metadata.name !== 'string' || o.metadata.name === '') return reply(res, 422, invalid(r, '', 'metadata.name', 'Required value: name or generateName is required'));
    if (o.kind !== r.kind || o.apiVersion !== apiVersionOf(r)) return reply(res, 400, status(400, 'BadRequest', `the API version in the data (${o.apiVersion}) and kind (${o.kind}) do not match ${apiVersionOf(r)} ${r.kind}`));
    if (r.namespaced && o.metadata.namespace !== undefined && o.metadata.namespace !== namespace) return reply(res, 400, status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    if (this.#objects.has(this.#key(r, namespace, o.metadata.name))) return reply(res, 409, status(409, 'AlreadyExists', `${r.plural}${r.group === '' ? '' : `.${r.group}`} "${o.metadata.name}" already exists`, { name: o.metadata.name, group: r.group, kind: r.plural }));
    const stored: KubeObject = structuredClone(o);
    const { resourceVersion: _rv, uid: _u, generation: _g, creationTimestamp: _c, managedFields: _m, ...given } = stored.metadata;
    stored.metadata = { ...given, ...(namespace === undefined ? {} : { namespace }), uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), managedFields: [managedEntry(r, manager, undefined)] };
    if (r.custom) stored.metadata.generation = 1;
    if (r.statusSubresource) delete stored.status;
    this.#commit(r, 'ADDED', stored);
    reply(res, 201, this.#objects.get(this.#key(r, namespace, o.metadata.name)));
  }
}

function matches(w: Watcher, e: Event): boolean {
  return e.res === w.res && (w.namespace === undefined || e.object.metadata.namespace === w.namespace);
}
