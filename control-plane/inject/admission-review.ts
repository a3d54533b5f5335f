// AdmissionReview v1 (admission.k8s.io/v1) in and out: what the API server POSTs to a
// mutating webhook, checked field by field before anything reads it, and the response it
// takes back. The Pod inside is kept as the API server sent it: the patch is computed
// against exactly that object.

import type { V1Container, V1Pod } from '@kubernetes/client-node';

export type Review = {
  readonly uid: string;
  readonly operation: string;
  /** The request's namespace: a Pod made from a template has no metadata.namespace yet. */
  readonly namespace: string;
  /** group/version/kind of the object, e.g. '/v1/Pod'. */
  readonly kind: string;
  readonly pod: V1Pod;
};

export type JsonPatchOp = { op: 'add' | 'replace' | 'remove' | 'test'; path: string; value?: unknown };

export type AdmissionResponse = {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  /** base64 of the RFC 6902 JSON Patch. */
  readonly patch?: string;
  readonly status?: { readonly code: number; readonly message: string };
  readonly warnings?: readonly string[];
};

export type ParseResult = { ok: true; value: Review } | { ok: false; error: string };

/** Checks an AdmissionReview v1 request; every problem named by its field path. */
export function parseAdmissionReview(body: unknown): ParseResult {
  const errors: string[] = [];
  if (!isObject(body)) return { ok: false, error: 'the body must be a JSON object (an AdmissionReview)' };
  if (body.apiVersion !== 'admission.k8s.io/v1') errors.push(`apiVersion: must be admission.k8s.io/v1 (got ${JSON.stringify(body.apiVersion)}); set admissionReviewVersions: [v1] in the webhook configuration`);
  if (body.kind !== 'AdmissionReview') errors.push(`kind: must be AdmissionReview (got ${JSON.stringify(body.kind)})`);
  const req = body.request;
  if (!isObject(req)) {
    errors.push('request: missing, or not an object');
    return { ok: false, error: errors.join('; ') };
  }
  if (typeof req.uid !== 'string' || req.uid === '') errors.push('request.uid: must be a non-empty string');
  if (typeof req.operation !== 'string') errors.push('request.operation: must be a string (CREATE, UPDATE, ...)');
  const kind = req.kind;
  if (!isObject(kind) || typeof kind.version !== 'string' || typeof kind.kind !== 'string') errors.push('request.kind: must be { group, version, kind }');
  const isPod = isObject(kind) && (kind.group ?? '') === '' && kind.version === 'v1' && kind.kind === 'Pod';
  const obj = req.object;
  if (isPod && req.operation === 'CREATE') checkPod(obj, 'request.object', errors);
  const ns = req.namespace ?? (isObject(obj) && isObject(obj.metadata) ? obj.metadata.namespace : undefined);
  if (isPod && (typeof ns !== 'string' || ns === '')) errors.push('request.namespace: a Pod review must name its namespace');
  if (errors.length > 0) return { ok: false, error: errors.join('; ') };
  const k = kind as { group?: string; version: string; kind: string };
  return { ok: true, value: { uid: req.uid as string, operation: req.operation as string, namespace: (ns as string | undefined) ?? '', kind: `${k.group ?? ''}/${k.version}/${k.kind}`, pod: (obj ?? {}) as V1Pod } };
}

function checkPod(obj: unknown, at: string, errors: string[]): void {
  if (!isObject(obj)) return void errors.push(`${at}: must be the Pod`);
  if (obj.metadata !== undefined && !isObject(obj.metadata)) errors.push(`${at}.metadata: must be an object`);
  else if (isObject(obj.metadata)) {
    for (const field of ['labels', 'annotations']) {
      const m = obj.metadata[field];
      if (m !== undefined && (!isObject(m) || Object.values(m).some((v) => typeof v !== 'string'))) errors.push(`${at}.metadata.${field}: must map strings to strings`);
    }
  }
  if (!isObject(obj.spec)) return void errors.push(`${at}.spec: must be an object`);
  for (const field of ['containers', 'initContainers', 'volumes'] as const) {
    const list = obj.spec[field];
    if (list === undefined && field !== 'containers') continue;
    if (!Array.isArray(list)) {
      errors.push(`${at}.spec.${field}: must be a list`);
      continue;
    }
    list.forEach((c, i) => {
      if (!isObject(c) || typeof c.name !== 'string' || c.name === '') errors.push(`${at}.spec.${field}[${i}].name: must be a non-empty string`);
      else if (field !== 'volumes') checkContainer(c as unknown as V1Container, `${at}.spec.${field}[${i}]`, errors);
    });
  }
}

function checkContainer(c: V1Container, at: string, errors: string[]): void {
  for (const field of ['ports', 'env', 'volumeMounts'] as const) if (c[field] !== undefined && !Array.isArray(c[field])) errors.push(`${at}.${field}: must be a list`);
  for (const field of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) if (c[field] !== undefined && !isObject(c[field])) errors.push(`${at}.${field}: must be an object`);
}

/** The AdmissionReview v1 the webhook answers with. */
export function admissionReviewResponse(response: AdmissionResponse): { apiVersion: 'admission.k8s.io/v1'; kind: 'AdmissionReview'; response: AdmissionResponse } {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
