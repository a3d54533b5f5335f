// The fake Kubernetes API server's wire: paths as the API server routes them, and the
// Status objects, patches and TokenReviews it answers with (fake-kube-api.ts serves them).

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeResource } from './fake-kube-api.ts';

export function apiVersionOf(r: FakeResource): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

export type Route = { group: string; version: string; namespace?: string; plural: string; name?: string; subresource?: string };

export function parsePath(path: string): Route | undefined {
  const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) [group, version, rest] = ['', parts[1], parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length >= 3) [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
  else return undefined;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length < 1 || rest.length > 3) return undefined;
  return { group, version, namespace, plural: rest[0], name: rest[1], subresource: rest[2] };
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  return text.trim() === '' ? undefined : JSON.parse(text);
}

export function reply(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export function status(code: number, reason: string, message: string, details?: Record<string, unknown>): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details === undefined ? {} : { details }), code };
}

export function notFound(r: FakeResource, name: string): object {
  return status(404, 'NotFound', `${r.plural}${r.group === '' ? '' : `.${r.group}`} "${name}" not found`, { name, group: r.group, kind: r.plural });
}

export function conflict(what: string): object {
  return status(409, 'Conflict', `Operation cannot be fulfilled on ${what}: the object has been modified; please apply your changes to the latest version and try again`);
}

export function invalid(r: FakeResource, name: string, field: string, message: string): object {
  return status(422, 'Invalid', `${r.kind} "${name}" is invalid: ${field}: Invalid value: ${message}`, { name, group: r.group, kind: r.kind, causes: [{ reason: 'FieldValueInvalid', message, field }] });
}

export function userAgent(req: IncomingMessage): string {
  return (req.headers['user-agent'] ?? 'unknown').split('/')[0];
}

export function managedEntry(r: FakeResource, manager: string, subresource: string | undefined): object {
  return { manager, operation: 'Update', apiVersion: apiVersionOf(r), time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), fieldsType: 'FieldsV1', fieldsV1: {}, ...(subresource === undefined ? {} : { subresource }) };
}

/** RFC 7386. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** A token a test registered: system:serviceaccount:NS:SA, for these audiences. */
export type TokenIdentity = { readonly namespace: string; readonly serviceAccount: string; readonly audiences: readonly string[]; readonly podName?: string; readonly podUid?: string };

/** POST authentication.k8s.io/v1 tokenreviews: the review a real API server answers, authenticated for a registered token and a shared audience. */
export function tokenReview(res: ServerResponse, body: unknown, tokens: ReadonlyMap<string, TokenIdentity>): void {
  const spec = (body as { spec?: { token?: unknown; audiences?: unknown } } | undefined)?.spec;
  if (typeof spec?.token !== 'string') return reply(res, 422, status(422, 'Invalid', 'TokenReview.authentication.k8s.io is invalid: spec.token: Required value'));
  const wanted = Array.isArray(spec.audiences) ? (spec.audiences as string[]) : [];
  const id = tokens.get(spec.token);
  const audiences = id === undefined ? [] : wanted.length === 0 ? [...id.audiences] : wanted.filter((a) => id.audiences.includes(a));
  const ok = id !== undefined && audiences.length > 0;
  const review = {
    kind: 'TokenReview',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec: { token: spec.token, ...(wanted.length === 0 ? {} : { audiences: wanted }) },
    status: ok
      ? {
          authenticated: true,
          user: {
            username: `system:serviceaccount:${id.namespace}:${id.serviceAccount}`,
            uid: randomUUID(),
            groups: ['system:serviceaccounts', `system:serviceaccounts:${id.namespace}`, 'system:authenticated'],
            ...(id.podName === undefined ? {} : { extra: { 'authentication.kubernetes.io/pod-name': [id.podName], 'authentication.kubernetes.io/pod-uid': [id.podUid ?? ''] } }),
          },
          audiences,
        }
      : { user: {}, error: id === undefined ? '[invalid bearer token, token lookup failed]' : '[invalid bearer token, token audiences is invalid for the target audiences]' },
  };
  reply(res, 201, review);
}
