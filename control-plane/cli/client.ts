// The client of the control plane's HTTP API (sluice-cp, port 15014): JSON over node:http
// (not undici, whose 100 modules would double the CLI's start), with a Status body turned into an ApiError that keeps the server's code, message and
// field causes, and a failed connection turned into one sentence that says what to do.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { KindNames } from '../api/kind-names.ts';
import type { Resource } from '../api/resource.ts';

/** Where the control plane is and how to talk to it; server-config.ts resolves it. */
export type Connection = {
  /** http(s)://HOST:PORT, without a trailing slash. */
  readonly server: string;
  readonly token?: string;
  /** Where the token was read from (`FILE (from SLUICE_TOKEN_FILE)`), for the message when it is refused. */
  readonly tokenSource?: string;
  /** PEM roots to trust the control plane's certificate by (https only). */
  readonly ca?: string;
};

export type ServerVersion = { readonly version: string; readonly revision: number };
export type WriteOptions = { readonly dryRun?: boolean };

/** One client per command run; every method throws ApiError. */
export type ApiClient = {
  readonly server: string;
  version(): Promise<ServerVersion>;
  /** Sorted by namespace, then name. `namespace` undefined: every namespace (or a cluster-scoped kind). */
  list(kind: KindNames<unknown>, namespace?: string): Promise<Resource[]>;
  get(kind: KindNames<unknown>, namespace: string | undefined, name: string): Promise<Resource>;
  create(kind: KindNames<unknown>, resource: Resource, opts?: WriteOptions): Promise<Resource>;
  /** Conditional when `resource.metadata.resourceVersion` is set (CONFLICT if stale). */
  update(kind: KindNames<unknown>, resource: Resource, opts?: WriteOptions): Promise<Resource>;
  delete(kind: KindNames<unknown>, namespace: string | undefined, name: string): Promise<Resource>;
  /** As list, with the revision the list was read at (to watch from). */
  listAt(kind: KindNames<unknown>, namespace?: string): Promise<{ items: Resource[]; resourceVersion: string }>;
  /**
   * Calls `onEvent` for every change after `resourceVersion` (without one: the current
   * resources as ADDED first) until `signal` aborts or the server ends the stream; resolves
   * then. A watch the server cut off (EXPIRED) rejects with its ApiError.
   */
  watch(kind: KindNames<unknown>, namespace: string | undefined, resourceVersion: string | undefined, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void>;
  /** Every xDS client of the control plane with its sync state per type (GET /debug/xds/proxies). */
  proxyStatus(): Promise<unknown[]>;
  /** Failed requests the proxies reported, newest first (GET /debug/failures; sluicectl explain). */
  failures(query: Readonly<Record<string, string>>): Promise<unknown[]>;
  /** The CA's certificates and each connected client's SVID (GET /debug/certificates). */
  certificates(): Promise<unknown>;
  /** This control plane's role and the zones it knows (GET /debug/zones). */
  zones(): Promise<unknown>;
  /** Golden metrics per Service and edge over `window` (GET /debug/stats?window=). */
  stats(window: string): Promise<unknown>;
  /** Closes the connections; the client is unusable after. */
  close(): Promise<void>;
};

export type WatchEvent = { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: Resource };

export type Cause = { readonly path: string; readonly message: string };

/**
 * A failed call. `code` is the Status reason (NOT_FOUND, ALREADY_EXISTS, CONFLICT,
 * INVALID, UNAUTHORIZED, BAD_REQUEST), UNREACHABLE when no answer came, or HTTP_<status>
 * when the answer was not a Status.
 */
export class ApiError extends Error {
  readonly code: string;
  /** The HTTP status; 0 when unreachable. */
  readonly status: number;
  readonly causes: readonly Cause[];

  constructor(code: string, status: number, message: string, causes: readonly Cause[] = []) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.causes = causes;
  }
}

export function isApiError(err: unknown, code?: string): err is ApiError {
  return err instanceof ApiError && (code === undefined || err.code === code);
}

/** The message, then each cause as `path: message` on its own indented line. */
export function formatError(err: unknown): string {
  if (!isApiError(err)) return `${(err as Error).message}\n`;
  return `${err.message}\n${err.causes.map((c) => `  ${c.path}: ${c.message}\n`).join('')}`;
}

// --- paths ---

/** `/api/v1[/namespaces/NS]/services`, `/apis/GROUP/VERSION[/namespaces/NS]/PLURAL`. */
export function collectionPath(kind: KindNames<unknown>, namespace: string | undefined): string {
  const root = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  const ns = kind.scope === 'Namespaced' && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${root}${ns}/${kind.plural}`;
}

export function itemPath(kind: KindNames<unknown>, namespace: string | undefined, name: string): string {
  return `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
}

// --- the client ---

export function createApiClient(connection: Connection): ApiClient {
  const server = connection.server.replace(/\/+$/, '');
  const https = server.startsWith('https:');
  // Our own agent, so close() leaves no keep-alive socket behind and `ca` applies to it alone.
  const agent = https ? new HttpsAgent({ keepAlive: true, ...(connection.ca === undefined ? {} : { ca: connection.ca }) }) : new HttpAgent({ keepAlive: true });
  const open = (method: string, path: string, body: string | undefined, signal?: AbortSignal): Promise<IncomingMessage> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (connection.token !== undefined) headers.authorization = `Bearer ${connection.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(`${server}${path}`, { method, headers, agent, signal }, resolve);
      req.on('error', (err) => reject(signal?.aborted === true ? err : unreachable(server, err)));
      req.end(body);
    });
  };
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await open(method, path, body === undefined ? undefined : JSON.stringify(body));
    let text = '';
    for await (const chunk of res) text += chunk;
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) {
      if (json === undefined) throw new ApiError(`HTTP_${status}`, status, `the control plane at ${server} answered ${method} ${path} with something that is not JSON`);
      return json;
    }
    throw statusError(connection, method, path, status, json);
  };
  const watch: ApiClient['watch'] = async (kind, namespace, resourceVersion, onEvent, signal) => {
    const path = `${collectionPath(kind, namespace)}?watch=true${resourceVersion === undefined ? '' : `&resourceVersion=${encodeURIComponent(resourceVersion)}`}`;
    let res: IncomingMessage;
    try {
      res = await open('GET', path, undefined, signal);
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    if (res.statusCode !== 200) {
      let text = '';
      for await (const chunk of res) text += chunk;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      throw statusError(connection, 'GET', path, res.statusCode ?? 0, json);
    }
    res.setEncoding('utf8');
    let buffered = '';
    try {
      for await (const chunk of res) {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.trim() === '') continue;
          const e = JSON.parse(line) as { type: string; object: unknown };
          if (e.type === 'ERROR') throw statusError(connection, 'GET', path, 410, e.object);
          onEvent(e as WatchEvent);
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  };
  const dry = (opts?: WriteOptions) => (opts?.dryRun === true ? '?dryRun=All' : '');
  return {
    server,
    version: async () => (await call('GET', '/version')) as ServerVersion,
    list: async (kind, namespace) => ((await call('GET', collectionPath(kind, namespace))) as { items: Resource[] }).items,
    listAt: async (kind, namespace) => {
      const list = (await call('GET', collectionPath(kind, namespace))) as { items: Resource[]; metadata?: { resourceVersion?: string } };
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '0' };
    },
    get: async (kind, namespace, name) => (await call('GET', itemPath(kind, namespace, name))) as Resource,
    create: async (kind, r, opts) => (await call('POST', `${collectionPath(kind, r.metadata.namespace)}${dry(opts)}`, r)) as Resource,
    update: async (kind, r, opts) => (await call('PUT', `${itemPath(kind, r.metadata.namespace, r.metadata.name)}${dry(opts)}`, r)) as Resource,
    delete: async (kind, namespace, name) => (await call('DELETE', itemPath(kind, namespace, name))) as Resource,
    watch,
    proxyStatus: async () => ((await call('GET', '/debug/xds/proxies')) as { items: unknown[] }).items,
    failures: async (query) => ((await call('GET', `/debug/failures?${new URLSearchParams(query)}`)) as { items: unknown[] }).items,
    certificates: () => call('GET', '/debug/certificates'),
    zones: () => call('GET', '/debug/zones'),
    stats: (window) => call('GET', `/debug/stats?window=${encodeURIComponent(window)}`),
    close: async () => agent.destroy(),
  };
}

type StatusBody = { kind?: unknown; reason?: unknown; message?: unknown; details?: { causes?: { field?: unknown; message?: unknown }[] } };

function statusError(connection: Connection, method: string, path: string, status: number, json: unknown): ApiError {
  const server = connection.server;
  const body = (typeof json === 'object' && json !== null ? json : {}) as StatusBody;
  if (body.kind !== 'Status' || typeof body.reason !== 'string') {
    return new ApiError(`HTTP_${status}`, status, `the control plane at ${server} answered ${method} ${path} with HTTP ${status} and no Status body`);
  }
  const causes = (body.details?.causes ?? []).map((c) => ({ path: String(c.field ?? ''), message: String(c.message ?? '') }));
  let message = typeof body.message === 'string' && body.message !== '' ? body.message : body.reason;
  if (body.reason === 'UNAUTHORIZED') {
    // The server cannot know where we looked for a token; we can.
    message +=
      connection.token === undefined
        ? ' (sluicectl sent no token: set --token-file, SLUICE_TOKEN_FILE or tokenFile in ~/.sluice/config)'
        : ` (sluicectl sent the token in ${connection.tokenSource ?? 'its token file'}, and it was refused)`;
  }
  return new ApiError(body.reason, status, message, causes);
}

const TLS_TRUST_CODES = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED']);

function unreachable(server: string, err: unknown): ApiError {
  // A host with several addresses gives an AggregateError.
  const e = err as { code?: string; message?: string; errors?: { code?: string }[] };
  const reason = e.code ?? e.errors?.[0]?.code ?? e.message ?? String(err);
  const hint = TLS_TRUST_CODES.has(reason)
    ? 'its certificate is not trusted: set --ca-file or SLUICE_CA_FILE to the CA that signed it'
    : reason === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? 'its certificate does not name that host: use the host name the certificate was issued for'
      : 'is sluice-cp running? set --server or SLUICE_SERVER';
  return new ApiError('UNREACHABLE', 0, `cannot reach the control plane at ${server}: ${reason} (${hint})`);
}
