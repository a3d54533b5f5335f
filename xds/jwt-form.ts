// How a verified JWT is spelled in Envoy's fields, both ways: the control plane writes these
// forms (control-plane/xds/policies/request-authentication/ and authorization/rbac.ts) and a
// Sluice proxy reads them back (proxy/xds/translate-jwt.ts, translate-rbac-rule.ts).
//
// jwt_authn writes each verified payload to the request's dynamic metadata, under its own
// filter name and the key `payload_in_metadata` names (PAYLOAD_KEY, as Istio has it); RBAC's
// `metadata` principals and permissions read it there. A reader never interprets these forms
// freely: it takes the values out, writes the form again from them with the functions below
// and compares (sameForm), so a form read otherwise than Envoy would read it is refused.

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
/** Every provider's payload_in_metadata: the verified payload is metadata[JWT_AUTHN_FILTER].payload. */
export const PAYLOAD_KEY = 'payload';
/** Where the token is read: the Authorization header's Bearer credentials only (Envoy's default adds an access_token query parameter). */
export const FROM_HEADERS = Object.freeze([Object.freeze({ name: 'Authorization', value_prefix: 'Bearer ' })]);

type Obj = Record<string, unknown>;

// --- the JWKS fetch ---

/**
 * The cluster an Envoy fetches a jwksUri through (http_uri.cluster, required by Envoy):
 * Istio's name for the URI's host and port, `outbound|<port>||<host>`. For a JWKS served by a
 * Service of the mesh it is that Service port's cluster, which every proxy has; for an IdP
 * outside the mesh an Envoy needs a cluster of that name (Istio asks for a ServiceEntry). A
 * Sluice proxy fetches the URI itself, as from a static file, and only checks that the name
 * is this one.
 */
export function jwksCluster(uri: string): string {
  const url = new URL(uri);
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return `outbound|${port}||${url.hostname}`;
}

// --- principals: requestPrincipals ---

const metadata = (path: readonly string[], value: Obj): Obj => ({ filter: JWT_AUTHN_FILTER, path: [PAYLOAD_KEY, ...path].map((key) => ({ key })), value });
const exact = (v: string): Obj => ({ string_match: { exact: v } });

/** A verified JWT is there: its iss is (every provider names its issuer, and jwt_authn checks it). */
export const HAS_JWT: Obj = Object.freeze({ metadata: metadata(['iss'], { present_match: true }) });

/**
 * requestPrincipals as one principal: or_ids of each `<iss>/<sub>`. The engine compares the
 * whole string and an issuer holds '/' too, so a principal is every way of splitting it at
 * a '/' into iss and sub, not only Istio's last one. '*' is any verified JWT.
 */
export function requestPrincipalsId(list: readonly string[]): Obj {
  const ids = list.flatMap((p) => (p === '*' ? [HAS_JWT] : splits(p).map(([iss, sub]) => ({ and_ids: { ids: [{ metadata: metadata(['iss'], exact(iss)) }, { metadata: metadata(['sub'], exact(sub)) }] } }))));
  return { or_ids: { ids } };
}

function splits(p: string): [string, string][] {
  const out: [string, string][] = [];
  for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) out.push([p.slice(0, i), p.slice(i + 1)]);
  return out;
}

/** The principals a requestPrincipalsId form names, or null when `set` is not exactly that form. */
export function readRequestPrincipals(set: unknown): string[] | null {
  const ids: unknown = (set as Obj | undefined)?.or_ids === undefined ? undefined : ((set as Obj).or_ids as Obj).ids;
  if (!Array.isArray(ids) || ids.length === 0) return null;
  const out: string[] = [];
  for (const id of ids) {
    let p: string | undefined;
    if (sameForm(id, HAS_JWT)) p = '*';
    else {
      const pair: unknown = id?.and_ids?.ids;
      const [iss, sub] = Array.isArray(pair) && pair.length === 2 ? [exactAt(pair[0], 'iss'), exactAt(pair[1], 'sub')] : [];
      if (iss !== undefined && sub !== undefined) p = `${iss}/${sub}`;
    }
    if (p === undefined) return null;
    if (!out.includes(p)) out.push(p);
  }
  return sameForm(set, requestPrincipalsId(out)) ? out : null;
}

function exactAt(id: any, claim: string): string | undefined {
  const m = id?.metadata;
  const v = m?.value?.string_match?.exact;
  return m?.path?.[1]?.key === claim && typeof v === 'string' ? v : undefined;
}

// --- permissions: `when` claim conditions ---

export type ClaimCondition = { readonly claim: string; readonly values?: readonly string[]; readonly notValues?: readonly string[] };

/**
 * A string, number or boolean claim, or a list holding one: the engine compares numbers and
 * booleans by their JSON text, so a value that is that text also matches them.
 */
function valueIn(values: readonly string[]): Obj {
  const scalars = values.flatMap((v): Obj[] => {
    const n = Number(v);
    const extra: Obj[] = v !== '' && Number.isFinite(n) && String(n) === v ? [{ double_match: { exact: n } }] : v === 'true' || v === 'false' ? [{ bool_match: v === 'true' }] : [];
    return [exact(v), ...extra];
  });
  return { or_match: { value_matchers: [...scalars, ...scalars.map((m) => ({ list_match: { one_of: m } }))] } };
}

/**
 * The claim is there as something the engine reads: a string, number or boolean, or a list
 * holding one. (Envoy's present_match also takes null, objects and lists of neither, which
 * the engine reads as no claim; an empty list is one Envoy cannot tell, and is read as none
 * here, as is Number.MAX_VALUE, which DoubleRange.end leaves out: the guard fails, the side
 * that cannot open a hole.)
 */
const SCALARS: Obj[] = [{ string_match: { safe_regex: { regex: '[\\s\\S]*' } } }, { double_match: { range: { start: -Number.MAX_VALUE, end: Number.MAX_VALUE } } }, { bool_match: true }, { bool_match: false }];
const DEFINED: Obj = { or_match: { value_matchers: [...SCALARS, ...SCALARS.map((m) => ({ list_match: { one_of: m } }))] } };
/** There is a value at the path, whatever it is (Envoy's present_match): the engine's "a top-level claim of that whole name". */
const ANY_VALUE: Obj = { present_match: true };

/**
 * The claim's value matches: a name without '.' is a top-level claim; with dots, the engine
 * takes a top-level claim of that whole name if there is one (namespaced claims such as
 * 'https://example.com/roles'), else the dot path into nested objects.
 */
function claimMatch(claim: string, value: Obj): Obj {
  const path = claim.split('.');
  if (path.length === 1) return { metadata: metadata(path, value) };
  const whole = { metadata: metadata([claim], value) };
  const nested = { and_rules: { rules: [{ not_rule: { metadata: metadata([claim], ANY_VALUE) } }, { metadata: metadata(path, value) }] } };
  return { or_rules: { rules: [whole, nested] } };
}

/**
 * One `when` condition as a permission. notValues on a request without the claim holds in a
 * DENY policy and fails in an ALLOW one (proxy/authz/engine.ts), so in ALLOW it is guarded
 * by "the claim is there".
 */
export function claimConditionRule(c: ClaimCondition, action: 'ALLOW' | 'DENY'): Obj {
  const rules: Obj[] = [];
  if (c.values !== undefined) rules.push(claimMatch(c.claim, valueIn(c.values)));
  if (c.notValues !== undefined) {
    const not = { not_rule: claimMatch(c.claim, valueIn(c.notValues)) };
    rules.push(action === 'DENY' ? not : { and_rules: { rules: [claimMatch(c.claim, DEFINED), not] } });
  }
  return { and_rules: { rules } };
}

/** The condition a claimConditionRule form says, or null when `rule` is not exactly that form for `action`. */
export function readClaimCondition(rule: unknown, action: 'ALLOW' | 'DENY'): ClaimCondition | null {
  const parts: unknown = (rule as any)?.and_rules?.rules;
  const first = firstMetadata(rule);
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > 2 || first === undefined) return null;
  const keys = (first.path ?? []).map((s: any) => s?.key);
  if (keys[0] !== PAYLOAD_KEY || keys.length < 2 || keys.some((k: unknown) => typeof k !== 'string')) return null;
  const claim = keys.slice(1).join('.');
  let values: string[] | undefined;
  let notValues: string[] | undefined;
  for (const part of parts) {
    const negated = part?.not_rule ?? part?.and_rules?.rules?.[1]?.not_rule;
    if (negated !== undefined) notValues = stringsOf(negated);
    else values = stringsOf(part);
  }
  const c: ClaimCondition = { claim, ...(values === undefined ? {} : { values }), ...(notValues === undefined ? {} : { notValues }) };
  return sameForm(rule, claimConditionRule(c, action)) ? c : null;
}

/** Whether a principal or permission reads the JWT's metadata at all (then only these forms are read). */
export function readsJwt(x: unknown): boolean {
  return JSON.stringify(x).includes(`"${JWT_AUTHN_FILTER}"`);
}

function firstMetadata(x: any): any {
  if (x === null || typeof x !== 'object') return undefined;
  if (x.metadata !== undefined && !Array.isArray(x)) return x.metadata;
  for (const v of Object.values(x)) {
    const m = firstMetadata(v);
    if (m !== undefined) return m;
  }
  return undefined;
}

/** The string_match.exact values of the first metadata matcher below `x` (outside its lists). */
function stringsOf(x: unknown): string[] {
  const matchers: unknown = firstMetadata(x)?.value?.or_match?.value_matchers;
  if (!Array.isArray(matchers)) return [];
  const out: string[] = [];
  for (const m of matchers) if (typeof m?.string_match?.exact === 'string' && !out.includes(m.string_match.exact)) out.push(m.string_match.exact);
  return out;
}

// --- comparing forms ---

/** Deep equality of two decoded (or generated) messages, whatever the order of their keys. */
export function sameForm(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (x !== null && typeof x === 'object') {
    return `{${Object.keys(x)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((x as Obj)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(x);
}
