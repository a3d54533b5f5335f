// The client of the control plane's HTTP API (sluice-cp, port 15014): JSON over undici,
// with a Status body turned into an ApiError that keeps the server's code, message and
// field causes, and a failed connection turned into one sentence that says what to do.

import { Agent, fetch } from 'undici';
import { type KindDescriptor } from '../api/kind.ts';
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
  list(kind: KindDescriptor<unknown>, namespace?: string): Promise<Resource[]>;
  get(kind: KindDescriptor<unknown>, namespace: string | undefined, name: string): Promise<Resource>;
  create(kind: KindDescriptor<unknown>, resource: Resource, opts?: WriteOptions): Promise<Resource>;
  /** Conditional when `resource.metadata.resourceVersion` is set (CONFLICT if stale). */
  update(kind: KindDescriptor<unknown>, resource: Resource, opts?: WriteOptions): Promise<Resource>;
  delete(kind: KindDescriptor<unknown>, namespace: string | undefined, name: string): Promise<Resource>;
  /** Every xDS client of the control plane with its sync state per type (GET /debug/xds/proxies). */
  proxyStatus(): Promise<unknown[]>;
  /** The CA's certificates and each connected client's SVID (GET /debug/certificates). */
  certificates(): Promise<unknown>;
  /** Closes the connections; the client is unusable after. */
  close(): Promise<void>;
};

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
export function collectionPath(kind: KindDescriptor<unknown>, namespace: string | undefined): string {
  const root = kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  const ns = kind.scope === 'Namespaced' && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${root}${ns}/${kind.plural}`;
}

export function itemPath(kind: KindDescriptor<unknown>, namespace: string | undefined, name: string): string {
  return `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
}

// --- the client ---

export function createApiClient(connection: Connection): ApiClient {
  const server = connection.server.replace(/\/+$/, '');
  // Our own Agent, so close() leaves no keep-alive socket behind and `ca` applies to it alone.
  const agent = new Agent(connection.ca === undefined ? {} : { connect: { ca: connection.ca } });
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (connection.token !== undefined) headers.authorization = `Bearer ${connection.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await fetch(`${server}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), dispatcher: agent });
    } catch (err) {
      throw unreachable(server, err);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.ok) {
      if (json === undefined) throw new ApiError(`HTTP_${res.status}`, res.status, `the control plane at ${server} answered ${method} ${path} with something that is not JSON`);
      return json;
    }
    throw statusError(connection, method, path, res.status, json);
  };
  const dry = (opts?: WriteOptions) => (opts?.dryRun === true ? '?dryRun=All' : '');
  return {
    server,
    version: async () => (await call('GET', '/version')) as ServerVersion,
    list: async (kind, namespace) => ((await call('GET', collectionPath(kind, namespace))) as { items: Resource[] }).items,
    get: async (kind, namespace, name) => (await call('GET', itemPath(kind, namespace, name))) as Resource,
    create: async (kind, r, opts) => (await call('POST', `${collectionPath(kind, r.metadata.namespace)}${dry(opts)}`, r)) as Resource,
    update: async (kind, r, opts) => (await call('PUT', `${itemPath(kind, r.metadata.namespace, r.metadata.name)}${dry(opts)}`, r)) as Resource,
    delete: async (kind, namespace, name) => (await call('DELETE', itemPath(kind, namespace, name))) as Resource,
    proxyStatus: async () => ((await call('GET', '/debug/xds/proxies')) as { items: unknown[] }).items,
    certificates: () => call('GET', '/debug/certificates'),
    close: () => agent.close(),
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
  // fetch wraps the socket's error as `cause`; a host with several addresses gives an AggregateError.
  const cause = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
  const reason = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err as Error).message;
  const hint = TLS_TRUST_CODES.has(reason)
    ? 'its certificate is not trusted: set --ca-file or SLUICE_CA_FILE to the CA that signed it'
    : reason === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? 'its certificate does not name that host: use the host name the certificate was issued for'
      : 'is sluice-cp running? set --server or SLUICE_SERVER';
  return new ApiError('UNREACHABLE', 0, `cannot reach the control plane at ${server}: ${reason} (${hint})`);
}
