// The join-token API, beside the kinds (a token is no resource an operator applies):
//
//   POST   /apis/ca.sluice.dev/v1/namespaces/{ns}/jointokens        {"workload": "vm-1", "ttl": "1h"}
//          -> 201, the token text (this once only), its record, and the trust bundle
//   GET    /apis/ca.sluice.dev/v1[/namespaces/{ns}]/jointokens      -> the records, never a secret
//   GET    /apis/ca.sluice.dev/v1/namespaces/{ns}/jointokens/{id}
//   DELETE /apis/ca.sluice.dev/v1/namespaces/{ns}/jointokens/{id}   -> revoked (kept until it expires)
//
// Same bearer token and Status errors as the rest of the API (server.ts checks the token
// before it gets here).

import type { IncomingMessage } from 'node:http';
import type { Logger } from '../log.ts';
import { JOIN_TOKEN_API_VERSION, parseTokenTtl, type JoinTokenInfo, type JoinTokens } from '../ca/join-tokens.ts';
import { readBody } from './body.ts';
import { fail } from './status.ts';

export type TokenApiOptions = {
  readonly tokens: JoinTokens;
  /** The trust bundle a joining proxy checks the control plane's certificate with (the CA's bundle.pem). */
  readonly trustBundle: string;
};

const GROUP_PREFIX = '/apis/ca.sluice.dev/';
const PATH = /^\/apis\/ca\.sluice\.dev\/v1\/(?:namespaces\/([^/]+)\/)?jointokens(?:\/([^/]+))?\/?$/;

/** Whether the path is this API's (the whole ca.sluice.dev group, so a typo gets this API's 404). */
export function isTokenPath(pathname: string): boolean {
  return pathname.startsWith(GROUP_PREFIX);
}

/** The view of a token: Kubernetes-shaped, so `-o yaml` and the other lists read alike. */
export type JoinTokenView = {
  apiVersion: string;
  kind: 'JoinToken';
  metadata: { name: string; namespace: string; creationTimestamp: string };
  spec: { workload: string; identity: string; expiresAt: string };
  status: { state: JoinTokenInfo['state']; usedAt?: string; revokedAt?: string };
};

export function tokenView(t: JoinTokenInfo): JoinTokenView {
  return {
    apiVersion: JOIN_TOKEN_API_VERSION,
    kind: 'JoinToken',
    metadata: { name: t.id, namespace: t.namespace, creationTimestamp: t.createdAt },
    spec: { workload: t.workload, identity: t.spiffeId, expiresAt: t.expiresAt },
    status: { state: t.state, ...(t.usedAt === undefined ? {} : { usedAt: t.usedAt }), ...(t.revokedAt === undefined ? {} : { revokedAt: t.revokedAt }) },
  };
}

/** Serves one request of this API; errors are thrown as Status (ApiError) for server.ts to write. */
export async function serveTokens(opts: TokenApiOptions, log: Logger, req: IncomingMessage, pathname: string): Promise<{ code: number; body: object }> {
  const method = req.method ?? 'GET';
  const m = PATH.exec(pathname);
  if (m === null) return fail('NOT_FOUND', `no such path ${pathname}: join tokens are at ${GROUP_PREFIX}v1/namespaces/NAMESPACE/jointokens`);
  const namespace = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
  const id = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  if (id === undefined) {
    if (method === 'GET') {
      const items = await opts.tokens.list(namespace);
      return { code: 200, body: { apiVersion: JOIN_TOKEN_API_VERSION, kind: 'JoinTokenList', items: items.map(tokenView) } };
    }
    if (method !== 'POST') return notAllowed(method, 'GET, POST');
    if (namespace === undefined) return fail('BAD_REQUEST', 'a join token belongs to a namespace: POST to /apis/ca.sluice.dev/v1/namespaces/NAMESPACE/jointokens');
    const { workload, ttl } = mintRequest(await readBody(req, 64 * 1024), namespace);
    const ttlMs = parseTokenTtl(ttl);
    if (!ttlMs.ok) return fail('INVALID', `invalid ttl: ${ttlMs.error}`, { kind: 'JoinToken', violations: [{ path: 'ttl', message: ttlMs.error }] });
    const minted = await opts.tokens.mint(namespace, workload, ttlMs.value);
    if (!minted.ok) return fail('NOT_FOUND', minted.error.message, { kind: 'Workload', name: workload });
    const view = tokenView(minted.value.info);
    // The secret is in the answer and nowhere else: not in the log, not in the store.
    log('info', 'join token minted', { id: view.metadata.name, namespace, workload, identity: view.spec.identity, expiresAt: view.spec.expiresAt });
    return { code: 201, body: { ...view, token: minted.value.token, trustBundle: opts.trustBundle } };
  }
  if (namespace === undefined) return fail('NOT_FOUND', `join tokens are namespaced: use ${GROUP_PREFIX}v1/namespaces/NAMESPACE/jointokens/${id}`);
  if (method === 'GET' || method === 'DELETE') {
    const info = method === 'GET' ? await opts.tokens.get(namespace, id) : await opts.tokens.revoke(namespace, id);
    if (info === undefined) return fail('NOT_FOUND', `join token ${id} does not exist in namespace ${namespace} (an expired token is removed an hour after it expires)`, { kind: 'JoinToken', name: id });
    if (method === 'DELETE') log('info', 'join token revoked', { id, namespace, workload: info.workload });
    return { code: 200, body: tokenView(info) };
  }
  return notAllowed(method, 'GET, DELETE');
}

/** The body: {"workload", "ttl"?}; apiVersion, kind and metadata.namespace are tolerated (sluicectl sends them). */
function mintRequest(body: unknown, namespace: string): { workload: string; ttl?: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('BAD_REQUEST', 'the body must be an object: {"workload": "NAME", "ttl": "1h"}');
  const { workload, ttl, apiVersion: _a, kind: _k, metadata, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) fail('BAD_REQUEST', `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; a join token request has workload and ttl`);
  const ns = (metadata as { namespace?: unknown } | undefined)?.namespace;
  if (ns !== undefined && ns !== namespace) fail('BAD_REQUEST', `the body's namespace "${String(ns)}" does not match the path's "${namespace}"`);
  if (typeof workload !== 'string' || workload === '') fail('INVALID', 'workload is required: the name of the Workload the token lets join', { kind: 'JoinToken', violations: [{ path: 'workload', message: 'is required' }] });
  if (ttl !== undefined && typeof ttl !== 'string') fail('INVALID', `ttl must be a duration string like "1h", not ${JSON.stringify(ttl)}`, { kind: 'JoinToken', violations: [{ path: 'ttl', message: 'must be a string' }] });
  return { workload: workload as string, ttl: ttl as string | undefined };
}

function notAllowed(method: string, allowed: string): never {
  return fail('METHOD_NOT_ALLOWED', `${method} is not served here; use ${allowed}`);
}
