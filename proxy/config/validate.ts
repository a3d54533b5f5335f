// Validation of a parsed static config document: the schema first (ajv errors turned into
// our field paths and plain sentences), then the semantic rules the schema cannot say.
// Every violation is collected (Kuma style); nothing stops at the first one.

import { isIP } from 'node:net';
import type { ErrorObject } from 'ajv';
import type { Violation } from '../errors.ts';
import type { RawBackend, RawConfig, RawIdentity, RawFilter, RawListener, RawRoute, RawRule } from './schema.ts';
import { checkHttpRule, checkRuleList, type RuleContext } from '../../kinds/route-rule.ts';
import { firstSeen, isRecord } from '../../kinds/route-check.ts';
import { filterTypesKnown, REQUEST_REDIRECT } from '../../kinds/route-filters/index.ts';
import { checkPolicies } from './policies.ts';
import { checkHashOn } from '../../kinds/load-balancing.ts';
import { parseSpiffeId } from '../../certs/spiffe-id.ts';
import { checkTracing } from '../../kinds/tracing-spec.ts';
import { describeValue, HASHING_BALANCERS, meantField, pointerToPath, structuralViolation, validateStructure } from './schema.ts';

export type ValidateOptions = {
  /** Load-balancer policy names a backend may pick. Default ['round-robin', 'least-request']. */
  readonly loadBalancers?: readonly string[];
};

/**
 * Returns every violation in `doc` (any parsed YAML value); an empty list means `doc` is a
 * valid RawConfig. The semantic pass skips only the values the schema rejected (their shape
 * is unknown), so one typo does not hide the other mistakes around it; names count as
 * defined even when their item has a typo, so a reference to it is not reported too.
 */
export function validateDocument(doc: unknown, opts: ValidateOptions = {}): Violation[] {
  const ok = validateStructure(doc);
  const errors: readonly ErrorObject[] = ok ? [] : (validateStructure.errors ?? []);
  const c = new Checker(errors, opts.loadBalancers ?? ['round-robin', 'least-request']);
  for (const e of errors) {
    const v = structuralViolation(e);
    c.add(v.path, v.message);
  }
  if (isRecord(doc)) checkSemantics(doc as RawConfig, c);
  return c.out;
}

class Checker {
  readonly out: Violation[] = [];
  readonly loadBalancers: readonly string[];
  /** Paths of values the schema rejected (an unknown field leaves its object usable). */
  readonly #broken: string[];
  /** Paths of fields the operator misspelled: what we would say about their absence is noise. */
  readonly #meant: string[];
  listeners: Map<string, number> | null = new Map();
  backends: Map<string, number> | null = new Map();

  constructor(errors: readonly ErrorObject[], loadBalancers: readonly string[]) {
    this.loadBalancers = loadBalancers;
    this.#broken = errors.filter((e) => e.keyword !== 'additionalProperties').map((e) => pointerToPath(e.instancePath));
    this.#meant = errors.map(meantField).filter((p) => p !== undefined);
  }

  add(path: string, message: string): void {
    if (!this.#meant.some((m) => under(path, m))) this.out.push({ path, message });
  }

  /** True when the schema found nothing wrong at or under `path`. */
  sound(path: string): boolean {
    return !this.#broken.some((p) => under(p, path));
  }

  ref(path: string, kind: 'backend' | 'listener', name: string): boolean {
    const defined = kind === 'backend' ? this.backends : this.listeners;
    if (defined === null || defined.has(name)) return true;
    const names = [...defined.keys()];
    this.add(path, `${kind} '${name}' is not defined; ${names.length === 0 ? `no ${kind}s are defined` : `defined ${kind}s: ${names.join(', ')}`}`);
    return false;
  }

  /** The entries of a list the schema accepted as a list (items may still be broken). */
  list<T>(value: readonly T[] | undefined): readonly T[] {
    return Array.isArray(value) ? value : [];
  }
}

function under(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && (path[prefix.length] === '.' || path[prefix.length] === '['));
}

function checkSemantics(doc: RawConfig, c: Checker): void {
  c.listeners = indexNames(c, doc.listeners, 'listener', 'listeners');
  c.backends = indexNames(c, doc.backends, 'backend', 'backends');
  indexNames(c, doc.routes, 'route', 'routes');
  const bound: { address: string; port: number; at: number }[] = [];
  if (isRecord(doc.identity) && c.sound('identity')) checkIdentity(c, doc.identity);
  const hasIdentity = doc.identity !== undefined;
  c.list(doc.listeners).forEach((l, i) => isRecord(l) && checkListener(c, l, `listeners[${i}]`, i, doc.listeners, bound, hasIdentity));
  c.list(doc.routes).forEach((r, i) => isRecord(r) && checkRoute(c, r, `routes[${i}]`, doc.listeners));
  c.list(doc.backends).forEach((b, i) => isRecord(b) && checkBackend(c, b, `backends[${i}]`, hasIdentity));
  checkPolicies(doc, (path, message) => c.add(path, message), (path) => !c.sound(path));
  if (isRecord(doc.tracing) && c.sound('tracing')) checkTracing(doc.tracing, 'tracing', (path, message) => c.add(path, message));
}

/** Names of a section's items, reporting duplicates; null when the section is not a list. */
function indexNames(c: Checker, section: unknown, kind: string, path: string): Map<string, number> | null {
  if (section === undefined) return new Map();
  if (!Array.isArray(section)) return null;
  const names = new Map<string, number>();
  section.forEach((item: unknown, i) => {
    const name = isRecord(item) ? item.name : undefined;
    const first = typeof name === 'string' ? firstSeen(names, name, i) : undefined;
    if (first !== undefined) c.add(`${path}[${i}].name`, `${kind} name '${name}' is already used by ${path}[${first}]`);
  });
  return names;
}

// --- identity, listeners and backends ---

const NO_IDENTITY = "needs the proxy's own certificate: add 'identity' at the top of the file (dir: a folder written by `sluicectl ca issue`)";

function checkIdentity(c: Checker, id: RawIdentity): void {
  const files = (['certFile', 'keyFile', 'bundleFile'] as const).filter((k) => id[k] !== undefined);
  if (id.dir !== undefined && files.length > 0) c.add(`identity.${files[0]}`, "does not go with 'dir': give either dir (holding cert.pem, key.pem and bundle.pem) or all three files");
  else if (id.dir === undefined && files.length < 3) {
    const missing = (['certFile', 'keyFile', 'bundleFile'] as const).filter((k) => id[k] === undefined);
    c.add(files.length === 0 ? 'identity' : `identity.${missing[0]}`, files.length === 0 ? "needs 'dir', or certFile, keyFile and bundleFile" : `is required beside ${files.join(' and ')}`);
  }
}

function checkListener(c: Checker, l: RawListener, path: string, i: number, all: readonly RawListener[], bound: { address: string; port: number; at: number }[], hasIdentity: boolean): void {
  if (!hasIdentity && l.tls !== undefined && l.tls.mode !== 'DISABLE' && c.sound(`${path}.tls`)) c.add(`${path}.tls.mode`, `${l.tls.mode} ${NO_IDENTITY}`);
  const address = c.sound(`${path}.address`) ? l.address : undefined;
  if (address !== undefined && isIP(address) === 0) {
    c.add(`${path}.address`, `must be an IP address to bind, such as 127.0.0.1, 0.0.0.0 or ::; got ${describeValue(address)}`);
  } else if (address !== undefined && c.sound(`${path}.port`) && l.port !== undefined && l.port !== 0) {
    const clash = bound.find((b) => b.port === l.port && overlaps(b.address, l.address));
    if (clash !== undefined) {
      c.add(`${path}.port`, `${hostPort(l.address, l.port)} collides with listener '${all[clash.at].name}' (listeners[${clash.at}]) on ${hostPort(clash.address, clash.port)}`);
    } else bound.push({ address: l.address, port: l.port, at: i });
  }
  if (!c.sound(`${path}.protocol`)) return;
  if (l.protocol === 'tcp') {
    if (l.backend === undefined) c.add(`${path}.backend`, 'is required for a tcp listener: it names the backend every connection is forwarded to');
    else if (c.sound(`${path}.backend`)) c.ref(`${path}.backend`, 'backend', l.backend);
    if (l.limits !== undefined) c.add(`${path}.limits`, 'applies to http listeners only; this listener is tcp');
    if (l.escapedSlashes !== undefined) c.add(`${path}.escapedSlashes`, 'applies to http listeners only; this listener is tcp');
    if (l.pathParameters !== undefined) c.add(`${path}.pathParameters`, 'applies to http listeners only; this listener is tcp');
  } else if (l.protocol === 'http' && l.backend !== undefined) {
    c.add(`${path}.backend`, 'applies to tcp listeners only; an http listener sends each request where its routes say');
  }
}

/** Two binds on one port collide when the addresses are equal or one is a wildcard covering the other. */
function overlaps(a: string, b: string): boolean {
  if (a === b || a === '::' || b === '::') return true;
  return (a === '0.0.0.0' && isIP(b) === 4) || (b === '0.0.0.0' && isIP(a) === 4);
}

function hostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

function checkBackend(c: Checker, b: RawBackend, path: string, hasIdentity: boolean): void {
  if (b.tls !== undefined && c.sound(`${path}.tls`)) checkBackendTls(c, b.tls, `${path}.tls`, hasIdentity);
  const lb = b.loadBalancer ?? 'least-request';
  if (c.sound(`${path}.loadBalancer`) && !c.loadBalancers.includes(lb)) {
    c.add(`${path}.loadBalancer`, `load balancer '${lb}' is not available; available: ${c.loadBalancers.join(', ')}`);
  }
  const hashOn = b.hashOn;
  if (hashOn !== undefined && c.sound(`${path}.hashOn`)) {
    if (c.sound(`${path}.loadBalancer`) && !HASHING_BALANCERS.includes(lb)) {
      c.add(`${path}.hashOn`, `is read by the ${HASHING_BALANCERS.join(' and ')} load balancers only; this backend uses ${lb}`);
    }
    checkHashOn(hashOn, `${path}.hashOn`, (p, m) => c.add(p, m));
  }
  const seen = new Map<string, number>();
  c.list(b.endpoints).forEach((e, k) => {
    const at = `${path}.endpoints[${k}]`;
    if (!c.sound(at)) return;
    if (isIP(e.address) === 0 && !isDnsName(e.address)) c.add(`${at}.address`, `must be an IP address or a DNS name; got ${describeValue(e.address)}`);
    const first = firstSeen(seen, hostPort(e.address, e.port), k);
    if (first !== undefined) c.add(at, `endpoint ${hostPort(e.address, e.port)} is already listed as endpoints[${first}]`);
  });
}

function checkBackendTls(c: Checker, t: NonNullable<RawBackend['tls']>, path: string, hasIdentity: boolean): void {
  if (!hasIdentity) c.add(path, `mTLS to a backend ${NO_IDENTITY}`);
  const seen = new Map<string, number>();
  t.identities.forEach((id, k) => {
    const at = `${path}.identities[${k}]`;
    const parsed = parseSpiffeId(id);
    if (!parsed.ok) return c.add(at, `is not a SPIFFE ID: ${parsed.error}`);
    if (parsed.value.path === '') return c.add(at, `names a trust domain, not a workload: write spiffe://${parsed.value.trustDomain}/ns/<namespace>/sa/<service-account>`);
    const first = firstSeen(seen, parsed.value.uri, k);
    if (first !== undefined) c.add(at, `${id} is already listed as identities[${first}]`);
  });
  if (t.serverName !== undefined && !isDnsName(t.serverName)) c.add(`${path}.serverName`, `${describeValue(t.serverName)} is not a DNS name (SNI carries a host name, never an IP address)`);
}

// --- routes ---

function checkRoute(c: Checker, r: RawRoute, path: string, listeners: readonly RawListener[] | undefined): void {
  c.list(r.parentRefs).forEach((p, k) => {
    const at = `${path}.parentRefs[${k}]`;
    if (!c.sound(at) || !c.ref(`${at}.name`, 'listener', p.name)) return;
    if (listeners?.[c.listeners?.get(p.name) ?? -1]?.protocol === 'tcp') c.add(`${at}.name`, `listener '${p.name}' is a tcp listener; routes attach to http listeners only`);
  });
  c.list(r.hostnames).forEach((h, k) => c.sound(`${path}.hostnames[${k}]`) && checkHostname(c, `${path}.hostnames[${k}]`, h, true));
  // The rules are Gateway API's, checked as the control plane checks an HTTPRoute's (kinds/route-rule.ts).
  const ctx: RuleContext = {
    add: (at, message) => c.add(at, message),
    sound: (at) => c.sound(at),
    backendRef: (ref: { name: string }, at: string) => c.ref(`${at}.name`, 'backend', ref.name),
  };
  // A rule without matches gets one by default (path prefix /), and it counts toward the cap.
  checkRuleList(r.rules, 1, `${path}.rules`, ctx);
  c.list(r.rules).forEach((rule, j) => isRecord(rule) && checkForwarding(c, rule, `${path}.rules[${j}]`, checkHttpRule(rule, `${path}.rules[${j}]`, ctx), ctx));
}

/**
 * What the static file adds to Gateway API's rules, which accepts each of these and answers
 * the requests with 500: a rule that sends requests nowhere is a mistake in a file the proxy
 * alone reads. And a backendRef's filters are the header modifiers the proxy applies per backend.
 */
function checkForwarding(c: Checker, rule: RawRule, path: string, types: Map<string, number>, ctx: RuleContext): void {
  if (rule.backendRefs !== undefined && !Array.isArray(rule.backendRefs)) return;
  const refs = rule.backendRefs ?? [];
  if (!types.has(REQUEST_REDIRECT) && refs.length === 0 && filterTypesKnown(rule.filters, `${path}.filters`, ctx)) {
    c.add(`${path}.backendRefs`, 'is required: a rule forwards requests to its backendRefs, or answers them with a RequestRedirect filter');
  }
  refs.forEach((b, k) => isRecord(b) && checkBackendFilters(c, b.filters, `${path}.backendRefs[${k}].filters`));
  if (refs.length > 0 && c.sound(`${path}.backendRefs`) && refs.every((b) => b.weight === 0)) {
    c.add(`${path}.backendRefs`, 'every weight is 0, so no request can be sent anywhere; give at least one backendRef a weight above 0');
  }
}

const BACKEND_FILTERS: readonly string[] = ['RequestHeaderModifier', 'ResponseHeaderModifier'];

/** A backendRef's own filters: header changes for the requests sent to it and its responses. */
function checkBackendFilters(c: Checker, filters: readonly RawFilter[] | undefined, path: string): void {
  c.list(filters).forEach((f, k) => {
    const at = `${path}[${k}]`;
    if (!isRecord(f) || !c.sound(`${at}.type`) || f.type === undefined || BACKEND_FILTERS.includes(f.type)) return;
    c.add(`${at}.type`, `a backendRef carries ${BACKEND_FILTERS.join(' and ')} only (what xDS can say for one backend); put ${f.type} in the rule's filters`);
  });
}

function checkHostname(c: Checker, path: string, name: string, wildcard: boolean): void {
  if (isIP(name) !== 0) {
    if (wildcard) c.add(path, `must be a DNS name, not an IP address: hostnames match the Host header by name; got ${describeValue(name)}`);
    return;
  }
  const host = wildcard && name.startsWith('*.') ? name.slice(2) : name;
  if (host.includes('*')) c.add(path, wildcard ? `a wildcard may only be the whole first label, as in *.example.com; got ${describeValue(name)}` : `must be an exact hostname, without '*'; got ${describeValue(name)}`);
  else if (!isDnsName(host)) c.add(path, `${describeValue(name)} is not a valid DNS name (labels of letters, digits and '-', joined by '.')`);
}

/** RFC 1123 host name; an all-digit last label is taken for a mistyped IPv4 address. */
export function isDnsName(name: string): boolean {
  if (name.length > 253) return false;
  const labels = name.split('.');
  return labels.every((l) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i.test(l)) && !/^[0-9]+$/.test(labels[labels.length - 1]);
}
