// AuthorizationPolicy (mesh.sluice.dev/v1alpha1): the schema of its spec and the checks a
// schema cannot express, shared by the proxy's static config and the control plane's API.
// The spec is Istio's AuthorizationPolicy with Gateway-API-style path and header matches.
// targetRefs belongs to the caller, which composes `authorizationSpecFields` with its own;
// the proxy turns a checked spec into its model (proxy/config/authz-spec.ts).
//
// The checks lean hard on one fact: a condition that can never match is silent. In an ALLOW
// policy it only locks someone out, but in a DENY policy it is a hole, so everything that
// cannot match a request as the proxy sees it (a path that is not normalized, a malformed
// SPIFFE ID, an unknown method) is reported rather than accepted.

import { isIP } from 'node:net';
import Type, { type Static } from 'typebox';
import { parseSpiffeId } from '../certs/spiffe-id.ts';
import { normalizePath } from './normalize-path.ts';
import { closed, describeValue, didYouMean, HEADER_NAME_PATTERN, HEADER_VALUE_PATTERN, HTTP_METHODS, Opt, Text } from './schema-kit.ts';

export const AUTHZ_ACTIONS = ['ALLOW', 'DENY'] as const;
type AuthzAction = (typeof AUTHZ_ACTIONS)[number];

// Every list needs an entry: in Istio an empty list is "not set", which turns a templated
// `identities: []` into "any peer" without a word.
const Values = Type.Array(Text, { minItems: 1 });

const Source = Type.Object(
  {
    identities: Opt(Values),
    notIdentities: Opt(Values),
    namespaces: Opt(Values),
    notNamespaces: Opt(Values),
    requestPrincipals: Opt(Values),
    notRequestPrincipals: Opt(Values),
  },
  closed,
);

/** No RegularExpression: an unanchored or over-broad path regex is the classic authz bypass. */
const Paths = Type.Array(Type.Object({ type: Opt(Type.Enum(['Exact', 'PathPrefix'])), value: Text }, closed), { minItems: 1 });
const HeaderMatch = Type.Object(
  { name: Type.String({ pattern: HEADER_NAME_PATTERN }), type: Opt(Type.Enum(['Exact', 'RegularExpression'])), value: Type.String({ pattern: HEADER_VALUE_PATTERN }) },
  closed,
);

const Operation = Type.Object(
  {
    methods: Opt(Values),
    notMethods: Opt(Values),
    paths: Opt(Paths),
    notPaths: Opt(Paths),
    hosts: Opt(Values),
    notHosts: Opt(Values),
    headers: Opt(Type.Array(HeaderMatch, { minItems: 1 })),
  },
  closed,
);

const Condition = Type.Object({ claim: Text, values: Opt(Values), notValues: Opt(Values) }, closed);

const Rule = Type.Object({ from: Opt(Type.Array(Source)), to: Opt(Type.Array(Operation)), when: Opt(Type.Array(Condition)) }, closed);

/** The spec's fields without targetRefs: `Type.Object({ targetRefs, ...authorizationSpecFields }, closed)`. */
export const authorizationSpecFields = {
  /** Default ALLOW. */
  action: Opt(Type.Enum(AUTHZ_ACTIONS)),
  /** Omitted or empty in an ALLOW policy: nothing is allowed (Istio's allow-nothing). */
  rules: Opt(Type.Array(Rule)),
};
export const AuthorizationSpec = Type.Object(authorizationSpecFields, closed);
export type AuthorizationSpec = Static<typeof AuthorizationSpec>;

type RawSource = Static<typeof Source>;
type RawOperation = Static<typeof Operation>;
type RawCondition = Static<typeof Condition>;
type Add = (path: string, message: string) => void;

// --- checks (the spec has passed the schema) ---

/** Every violation a schema cannot express, at `path.rules[i]...`. */
export function checkAuthorization(spec: AuthorizationSpec, path: string, add: Add): void {
  const action = spec.action ?? 'ALLOW';
  spec.rules?.forEach((rule, i) => {
    const at = `${path}.rules[${i}]`;
    if (!rule.from?.length && !rule.to?.length && !rule.when?.length) add(at, EMPTY_RULE[action]);
    rule.from?.forEach((s, j) => checkSource(s, `${at}.from[${j}]`, action, add));
    rule.to?.forEach((o, j) => checkOperation(o, `${at}.to[${j}]`, add));
    rule.when?.forEach((c, j) => checkCondition(c, `${at}.when[${j}]`, add));
  });
}

const EMPTY_RULE: Record<AuthzAction, string> = {
  ALLOW: "an empty rule matches every request; here it would allow them all, whatever the other rules say. Say which requests with 'from', 'to' or 'when' (an ALLOW policy with rules: [] allows nothing)",
  DENY: "an empty rule matches every request; here it would deny them all. Say which requests with 'from', 'to' or 'when'",
};

const SEGMENT = /^[a-zA-Z0-9._-]+$/;

function checkSource(s: RawSource, at: string, action: AuthzAction, add: Add): void {
  if (Object.keys(s).length === 0) add(at, "an empty source matches every peer, plaintext ones included; name identities, namespaces or requestPrincipals (or a not* form), or leave out 'from'");
  for (const key of ['identities', 'notIdentities'] as const) {
    s[key]?.forEach((id, k) => {
      if (id === '*') return;
      const parsed = parseSpiffeId(id);
      if (!parsed.ok) add(`${at}.${key}[${k}]`, `is not a SPIFFE ID: ${parsed.error}`);
    });
  }
  for (const key of ['namespaces', 'notNamespaces'] as const) {
    s[key]?.forEach((ns, k) => {
      if (ns === '*') add(`${at}.${key}[${k}]`, "'*' is not a namespace; to match any authenticated peer, use identities: ['*']");
      else if (!SEGMENT.test(ns) || ns === '.' || ns === '..') {
        add(`${at}.${key}[${k}]`, `${describeValue(ns)} is not a namespace: it is the <ns> of a peer spiffe://<trust-domain>/ns/<ns>/sa/<sa>, one segment of letters, digits, '.', '-' and '_'`);
      }
    });
  }
  for (const key of ['requestPrincipals', 'notRequestPrincipals'] as const) {
    s[key]?.forEach((p, k) => {
      if (p === '*') return;
      if (p.includes('*')) add(`${at}.${key}[${k}]`, `only '*' on its own is a wildcard; to match every subject of an issuer, use a 'when' condition on claim 'iss'; got ${describeValue(p)}`);
      else if (!/^[^/]+\/.*[^/]$/.test(p)) add(`${at}.${key}[${k}]`, `must be '<iss>/<sub>' of a verified JWT (the issuer, '/', the subject) or '*'; got ${describeValue(p)}`);
    });
  }
  // A not* field never admits a request that lacks the attribute in an ALLOW policy (see
  // proxy/authz/engine.ts), and '*' excludes every request that has it: nothing is left.
  if (action === 'ALLOW') {
    for (const [key, what] of [['notIdentities', 'plaintext peers'], ['notRequestPrincipals', 'requests without a JWT']] as const) {
      const k = s[key]?.indexOf('*') ?? -1;
      if (k >= 0) add(`${at}.${key}[${k}]`, `'*' here matches no request in an ALLOW policy: it excludes every request that has one, and an ALLOW policy never admits ${what} through a not* field`);
    }
  }
}

function checkOperation(o: RawOperation, at: string, add: Add): void {
  if (Object.keys(o).length === 0) add(at, "an empty operation matches every request; name methods, paths, hosts or headers (or a not* form), or leave out 'to'");
  for (const key of ['methods', 'notMethods'] as const) {
    o[key]?.forEach((m, k) => {
      if ((HTTP_METHODS as readonly string[]).includes(m.toUpperCase())) return;
      const hint = didYouMean(m.toUpperCase(), HTTP_METHODS);
      add(`${at}.${key}[${k}]`, `must be one of ${HTTP_METHODS.join(', ')}; got ${describeValue(m)}${hint === undefined ? '' : `; did you mean '${hint}'?`}`);
    });
  }
  for (const key of ['paths', 'notPaths'] as const) o[key]?.forEach((p, k) => checkPath(p.value, `${at}.${key}[${k}].value`, add));
  for (const key of ['hosts', 'notHosts'] as const) {
    o[key]?.forEach((h, k) => {
      const error = hostError(h);
      if (error !== null) add(`${at}.${key}[${k}]`, error);
    });
  }
  o.headers?.forEach((h, k) => {
    if (h.name.toLowerCase() === 'host') {
      add(`${at}.headers[${k}].name`, "match the host with 'hosts': it also reads HTTP/2's :authority and ignores case, port and a trailing dot, where a 'host' header match would not");
    }
    if (h.type !== 'RegularExpression') return;
    try {
      new RegExp(h.value);
    } catch (err) {
      add(`${at}.headers[${k}].value`, `is not a valid regular expression: ${(err as Error).message}`);
    }
  });
}

/** The engine compares with the proxy's normalized path, so a value normalization would change never matches. */
function checkPath(value: string, at: string, add: Add): void {
  if (!value.startsWith('/')) return add(at, `must start with '/'; got ${describeValue(value)}`);
  if (/[?#]/.test(value)) return add(at, `must not contain '?' or '#': it is compared with the path alone; got ${describeValue(value)}`);
  const n = normalizePath(value);
  if (!n.ok) add(at, `can never match a request: ${n.reason}`);
  else if (n.path !== value) add(at, `can never match: requests are matched after path normalization, which turns it into '${n.path}'; write that instead`);
}

/** null for a usable host pattern: a DNS name or IP address, '*.' first for any subdomain, ':port' last. */
function hostError(host: string): string | null {
  const bracket = /^\[([^\]]*)\](?::(.*))?$/.exec(host);
  const colon = host.lastIndexOf(':');
  const name = bracket !== null ? bracket[1] : colon === -1 ? host : host.slice(0, colon);
  const port = bracket !== null ? bracket[2] : colon === -1 ? undefined : host.slice(colon + 1);
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) return `the port must be a number from 1 to 65535; got ${describeValue(host)}`;
  if (bracket !== null) return isIP(name) === 6 ? null : `${describeValue(host)} holds no IPv6 address between '[' and ']'`;
  if (name === '*') return "'*' matches every host; leave out 'hosts' instead";
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  const rest = bare.startsWith('*.') ? bare.slice(2) : bare;
  if (rest.includes('*')) return `a wildcard may only be the whole first label, as in *.example.com; got ${describeValue(host)}`;
  if (rest === bare && isIP(rest) === 4) return null;
  const labels = rest.split('.');
  const dns = rest.length <= 253 && labels.every((l) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i.test(l)) && !/^[0-9]+$/.test(labels[labels.length - 1]);
  return dns ? null : `${describeValue(host)} is not a host name (labels of letters, digits and '-', joined by '.'), an IP address or *.<domain>`;
}

function checkCondition(c: RawCondition, at: string, add: Add): void {
  if (c.values === undefined && c.notValues === undefined) add(at, "needs 'values', 'notValues' or both");
  if (c.claim.startsWith('.') || c.claim.endsWith('.') || c.claim.includes('..')) {
    add(`${at}.claim`, `is a claim name or a dot path into the claims such as realm_access.roles, so it may not start or end with '.' or hold '..'; got ${describeValue(c.claim)}`);
  }
}

// --- connections: what a policy means to a tcp port ---

const HTTP_SOURCE_FIELDS = ['requestPrincipals', 'notRequestPrincipals'] as const;

/**
 * The policy as it applies to TCP connections (Istio's reading), where only the peer is
 * known: no method, path, host, header or token. An ALLOW rule that names any of those can
 * match no connection, so it is dropped (a policy left with no rules allows nothing); a
 * DENY rule loses them, so it denies every connection its sources match: the stricter
 * reading either way, never a wider door. The static file and the control plane both use
 * this, so a tcp listener and Envoy's network RBAC filter decide alike.
 */
export function forConnections(spec: AuthorizationSpec): AuthorizationSpec {
  const deny = spec.action === 'DENY';
  const rules: NonNullable<AuthorizationSpec['rules']> = [];
  for (const rule of spec.rules ?? []) {
    const httpSource = (s: RawSource) => HTTP_SOURCE_FIELDS.some((f) => s[f] !== undefined);
    const usesHttp = (rule.to?.length ?? 0) > 0 || (rule.when?.length ?? 0) > 0 || (rule.from ?? []).some(httpSource);
    if (!usesHttp) {
      rules.push(rule);
      continue;
    }
    if (!deny) continue;
    // A source that named only a token is any source once the token is gone.
    const from = (rule.from ?? []).map((s) => Object.fromEntries(Object.entries(s).filter(([k]) => !(HTTP_SOURCE_FIELDS as readonly string[]).includes(k))) as RawSource);
    const anySource = from.length === 0 || from.some((s) => Object.keys(s).length === 0);
    rules.push(anySource ? { from: [{ identities: ['*'] }] } : { from });
    // An unauthenticated peer is not matched by identities: ['*']: a DENY of every source denies it too.
    if (anySource) rules.push({ from: [{ notIdentities: ['*'] }] });
  }
  return { ...(spec.action === undefined ? {} : { action: spec.action }), rules };
}
