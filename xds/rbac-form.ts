// How an AuthorizationPolicy is spelled in Envoy's RBAC fields, both ways: the control plane
// writes these strings (control-plane/xds/policies/authorization/) and a Sluice proxy reads
// them back (proxy/xds/translate-rbac.ts). Each spelling and its reading sit side by side
// so the two cannot drift. The regular expressions are RE2 for Envoy; a Sluice proxy never
// runs them, it recognises the template and matches natively (proxy/authz/engine.ts).

// --- policy names (Istio's) ---

const KEY = /^ns\[([^\]]*)\]-policy\[([^\]]+)\](?:-rule\[(\d+)\])?$/;

/**
 * `ns[<namespace>]-policy[<name>]-rule[<i>]`, Istio's name of one rule of a policy. Without
 * `rule`: the entry of a policy with no rules, which matches nothing (RBAC has no other way
 * to say that an ALLOW policy is there).
 */
export function policyKey(namespace: string, name: string, rule?: number): string {
  return `ns[${namespace}]-policy[${name}]${rule === undefined ? '' : `-rule[${rule}]`}`;
}

/** The parts of a policyKey; a name in another form is one policy of one rule, named as it is. */
export function parsePolicyKey(key: string): { readonly group: string; readonly name: string; readonly rule: number | null } {
  const m = KEY.exec(key);
  if (m === null) return { group: key, name: key, rule: 0 };
  return { group: policyKey(m[1], m[2]), name: m[2], rule: m[3] === undefined ? null : Number(m[3]) };
}

// --- peers (authenticated.principal_name) ---

/** Any authenticated peer: identities '*', and the guard of a not* field in an ALLOW policy. */
export const ANY_PEER = '.+';
/** A peer whose ID is a workload's (spiffe://<td>/ns/<ns>/sa/<sa>): the guard of notNamespaces in an ALLOW policy. */
export const ANY_WORKLOAD = 'spiffe://[^/]+/ns/[^/]+/sa/[^/]+';

const NAMESPACE = /^spiffe:\/\/\[\^\/\]\+\/ns\/((?:[A-Za-z0-9_-]|\\\.)+)\/sa\/\[\^\/\]\+$/;

/** Every workload of namespace `ns`, in any trust domain, as the engine's namespaces match. */
export function namespaceRegex(ns: string): string {
  return `spiffe://[^/]+/ns/${ns.replaceAll('.', '\\.')}/sa/[^/]+`;
}

/** The namespace a namespaceRegex names, or null when `regex` is not one. */
export function parseNamespaceRegex(regex: string): string | null {
  const m = NAMESPACE.exec(regex);
  return m === null ? null : m[1].replaceAll('\\.', '.');
}

// --- hosts (the ':authority' header) ---

/** Any non-empty authority: the guard of notHosts in an ALLOW policy. */
export const ANY_HOST = '.+';

const HOST = /^\(\?i:(\.\+\\\.)?((?:[A-Za-z0-9-]|\\\.|\\\[|\\\]|:)+)\)\\\.\*(?:(\(\?::\[0-9\]\*\)\?)|:([0-9]{1,5}))$/;
const ESCAPED = /[.[\]]/g;

/**
 * A host pattern as the engine matches it: any case, any number of trailing dots, and any
 * port unless the pattern names one. `*.example.com` is any subdomain, never example.com.
 */
export function hostRegex(pattern: string): string {
  const { wildcard, name, port } = splitHost(pattern);
  const body = name.replace(ESCAPED, (c) => `\\${c}`);
  return `(?i:${wildcard ? '.+\\.' : ''}${body})\\.*${port === undefined ? '(?::[0-9]*)?' : `:${port}`}`;
}

/** The host pattern a hostRegex matches (without a trailing dot), or null when `regex` is not one. */
export function parseHostRegex(regex: string): string | null {
  const m = HOST.exec(regex);
  if (m === null) return null;
  const name = m[2].replace(/\\(.)/g, '$1');
  if (name === '' || name.endsWith('.')) return null;
  return `${m[1] === undefined ? '' : '*.'}${name}${m[4] === undefined ? '' : `:${m[4]}`}`;
}

/** As the engine splits a host: the port after ']' for an IPv6 literal, else after the last ':'; trailing dots dropped. */
function splitHost(pattern: string): { wildcard: boolean; name: string; port: string | undefined } {
  let name = pattern;
  let port: string | undefined;
  const colon = pattern.startsWith('[') ? (pattern.indexOf(']:') === -1 ? -1 : pattern.indexOf(']:') + 1) : pattern.lastIndexOf(':');
  if (colon !== -1) {
    name = pattern.slice(0, colon);
    port = pattern.slice(colon + 1) || undefined;
  }
  name = name.replace(/\.+$/, '');
  const wildcard = name.startsWith('*.');
  return { wildcard, name: wildcard ? name.slice(2) : name, port };
}
