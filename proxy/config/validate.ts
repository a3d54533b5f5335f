// Validation of a parsed static config document: the schema first (ajv errors turned into
// our field paths and plain sentences), then the semantic rules the schema cannot say.
// Every violation is collected (Kuma style); nothing stops at the first one.

import { isIP } from 'node:net';
import type { ErrorObject } from 'ajv';
import type { Violation } from '../errors.ts';
import type { FilterType, RawBackend, RawConfig, RawIdentity, RawFilter, RawHeaderModifier, RawListener, RawMatch, RawPathModifier, RawRoute, RawRule } from './schema.ts';
import { checkPolicies } from './policies.ts';
import { checkHashOn } from '../../kinds/load-balancing.ts';
import { parseSpiffeId } from '../../certs/spiffe-id.ts';
import { checkDurations, describeValue, FILTER_FIELDS, HASHING_BALANCERS, HEADER_NAME_PATTERN, HTTP_METHODS, meantField, parseDuration, pointerToPath, structuralViolation, validateStructure } from './schema.ts';

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
  const names = new Map<string, number>();
  c.list(r.rules).forEach((rule, j) => {
    const at = `${path}.rules[${j}]`;
    if (!isRecord(rule)) return;
    const first = rule.name === undefined || !c.sound(`${at}.name`) ? undefined : firstSeen(names, rule.name, j);
    if (first !== undefined) c.add(`${at}.name`, `rule name '${rule.name}' is already used by rules[${first}]`);
    checkRule(c, rule, at);
  });
}

function checkRule(c: Checker, rule: RawRule, path: string): void {
  const matches = c.list(rule.matches);
  matches.forEach((m, k) => isRecord(m) && checkMatch(c, m, `${path}.matches[${k}]`));
  // Path types the schema accepted, for ReplacePrefixMatch (undefined: not known).
  const pathTypes = matches.map((m, k) => (c.sound(`${path}.matches[${k}].path.type`) && isRecord(m) ? (m.path?.type ?? 'PathPrefix') : undefined));
  const seen = new Map<FilterType, number>();
  let typesKnown = rule.filters === undefined || Array.isArray(rule.filters);
  c.list(rule.filters).forEach((f, k) => {
    const at = `${path}.filters[${k}]`;
    if (!isRecord(f) || !c.sound(`${at}.type`) || f.type === undefined) return void (typesKnown = false);
    const first = firstSeen(seen, f.type, k);
    if (first !== undefined && f.type !== 'RequestMirror') c.add(`${at}.type`, `${f.type} appears more than once in this rule (first at filters[${first}]); only RequestMirror may repeat`);
    checkFilter(c, f, at, pathTypes);
  });
  const redirect = seen.get('RequestRedirect');
  const rewrite = seen.get('URLRewrite');
  if (redirect !== undefined && rewrite !== undefined) {
    c.add(`${path}.filters[${rewrite}]`, `URLRewrite cannot be combined with RequestRedirect (filters[${redirect}]): the redirect answers the request, nothing is forwarded to rewrite`);
  }
  if (c.sound(`${path}.timeouts`)) checkTimeouts(c, rule, `${path}.timeouts`);
  if (rule.backendRefs !== undefined && !Array.isArray(rule.backendRefs)) return;
  const refs = rule.backendRefs ?? [];
  if (redirect !== undefined && refs.length > 0) {
    c.add(`${path}.backendRefs`, `must be empty when a RequestRedirect filter (filters[${redirect}]) answers the request`);
  } else if (redirect === undefined && refs.length === 0 && typesKnown) {
    c.add(`${path}.backendRefs`, 'is required: a rule forwards requests to its backendRefs, or answers them with a RequestRedirect filter');
  }
  refs.forEach((b, k) => c.sound(`${path}.backendRefs[${k}]`) && c.ref(`${path}.backendRefs[${k}].name`, 'backend', b.name));
  refs.forEach((b, k) => isRecord(b) && checkBackendFilters(c, b.filters, `${path}.backendRefs[${k}].filters`, pathTypes));
  if (refs.length > 0 && c.sound(`${path}.backendRefs`) && refs.every((b) => b.weight === 0)) {
    c.add(`${path}.backendRefs`, 'every weight is 0, so no request can be sent anywhere; give at least one backendRef a weight above 0');
  }
}

const BACKEND_FILTERS: readonly FilterType[] = ['RequestHeaderModifier', 'ResponseHeaderModifier'];

/** A backendRef's own filters: header changes for the requests sent to it and its responses, each type once. */
function checkBackendFilters(c: Checker, filters: readonly RawFilter[] | undefined, path: string, pathTypes: readonly (string | undefined)[]): void {
  const seen = new Map<FilterType, number>();
  c.list(filters).forEach((f, k) => {
    const at = `${path}[${k}]`;
    if (!isRecord(f) || !c.sound(`${at}.type`) || f.type === undefined) return;
    if (!BACKEND_FILTERS.includes(f.type)) return c.add(`${at}.type`, `a backendRef carries ${BACKEND_FILTERS.join(' and ')} only (what xDS can say for one backend); put ${f.type} in the rule's filters`);
    const first = firstSeen(seen, f.type, k);
    if (first !== undefined) c.add(`${at}.type`, `${f.type} appears more than once in this backendRef (first at filters[${first}])`);
    checkFilter(c, f, at, pathTypes);
  });
}

function checkTimeouts(c: Checker, rule: RawRule, path: string): void {
  const { request, backendRequest } = rule.timeouts ?? {};
  checkDurations((at, message) => c.add(at, message), path, { request, backendRequest });
  // Gateway API: a zero request timeout means none, so any backendRequest fits under it.
  if (request !== undefined && backendRequest !== undefined && parseDuration(request) !== 0 && parseDuration(backendRequest) > parseDuration(request)) {
    c.add(`${path}.backendRequest`, `must not be longer than the request timeout (${request}); got ${backendRequest}`);
  }
}

function checkMatch(c: Checker, m: RawMatch, path: string): void {
  if (c.sound(`${path}.path`)) {
    const value = m.path?.value ?? '/';
    if (m.path?.type === 'RegularExpression') checkRegExp(c, `${path}.path.value`, value);
    else checkPathValue(c, `${path}.path.value`, value);
  }
  for (const key of ['headers', 'queryParams'] as const) {
    const seen = new Map<string, number>();
    c.list(m[key]).forEach((h, k) => {
      const at = `${path}.${key}[${k}]`;
      if (!isRecord(h)) return;
      // Header names are case-insensitive, query parameter names are not (Gateway API).
      const first = c.sound(`${at}.name`) && h.name !== undefined ? firstSeen(seen, key === 'headers' ? h.name.toLowerCase() : h.name, k) : undefined;
      if (first !== undefined) c.add(`${at}.name`, `'${h.name}' is already matched by ${key}[${first}]`);
      if (h.type === 'RegularExpression' && c.sound(`${at}.value`) && typeof h.value === 'string') checkRegExp(c, `${at}.value`, h.value);
    });
  }
  if (m.method !== undefined && c.sound(`${path}.method`) && !(HTTP_METHODS as readonly string[]).includes(m.method.toUpperCase())) {
    c.add(`${path}.method`, `must be one of ${HTTP_METHODS.join(', ')}; got ${describeValue(m.method)}`);
  }
}

/** Called when the schema accepted `type`; the rest is checked where the schema accepted it too. */
function checkFilter(c: Checker, f: RawFilter, path: string, pathTypes: readonly (string | undefined)[]): void {
  const field = FILTER_FIELDS[f.type];
  for (const [type, other] of Object.entries(FILTER_FIELDS)) {
    if (other !== field && f[other] !== undefined) c.add(`${path}.${other}`, `does not go with type ${f.type}; put it in a filter of its own with type ${type}`);
  }
  const at = `${path}.${field}`;
  if (f[field] === undefined) return c.add(at, `is required when type is ${f.type}`);
  if (!isRecord(f[field])) return;
  switch (f.type) {
    case 'RequestHeaderModifier':
    case 'ResponseHeaderModifier':
      return checkHeaderModifier(c, at, f[field] as RawHeaderModifier);
    case 'URLRewrite':
    case 'RequestRedirect': {
      const { hostname, path: modifier } = (f.type === 'URLRewrite' ? f.urlRewrite : f.requestRedirect)!;
      if (f.type === 'URLRewrite' && hostname === undefined && modifier === undefined) c.add(at, "needs 'hostname', 'path' or both");
      if (hostname !== undefined && c.sound(`${at}.hostname`)) checkHostname(c, `${at}.hostname`, hostname, false);
      if (modifier !== undefined && c.sound(`${at}.path`)) checkPathModifier(c, `${at}.path`, modifier, pathTypes);
      return;
    }
    case 'RequestMirror':
      if (c.sound(at)) c.ref(`${at}.backendRef.name`, 'backend', f.requestMirror!.backendRef.name);
  }
}

function checkHeaderModifier(c: Checker, path: string, m: RawHeaderModifier): void {
  for (const key of ['set', 'add', 'remove'] as const) {
    const seen = new Map<string, number>();
    const list = c.list<string | { name: string }>(m[key]);
    list.forEach((h, k) => {
      const [name, at] = typeof h === 'string' ? [h, `${path}.${key}[${k}]`] : [h?.name, `${path}.${key}[${k}].name`];
      const first = c.sound(at) && typeof name === 'string' ? firstSeen(seen, name.toLowerCase(), k) : undefined;
      if (first !== undefined) c.add(at, `header '${name}' is already listed at ${key}[${first}]`);
    });
  }
}

/** Records `key` at index `k`; returns the index it was first seen at, if it was. */
function firstSeen<K>(seen: Map<K, number>, key: K, k: number): number | undefined {
  const first = seen.get(key);
  if (first === undefined) seen.set(key, k);
  return first;
}

function checkPathModifier(c: Checker, path: string, p: RawPathModifier, pathTypes: readonly (string | undefined)[]): void {
  const field = p.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
  const other = p.type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
  if (p[other] !== undefined) c.add(`${path}.${other}`, `does not go with type ${p.type}`);
  const value = p[field];
  if (value === undefined) c.add(`${path}.${field}`, `is required when type is ${p.type}`);
  else checkPathValue(c, `${path}.${field}`, value);
  if (p.type !== 'ReplacePrefixMatch') return;
  const k = pathTypes.findIndex((t) => t !== undefined && t !== 'PathPrefix');
  if (k >= 0) c.add(`${path}.type`, `ReplacePrefixMatch needs every match of the rule to be a PathPrefix match; matches[${k}] is ${pathTypes[k]}`);
}

// --- leaf values ---

function checkPathValue(c: Checker, path: string, value: string): void {
  if (!value.startsWith('/')) c.add(path, `must start with '/'; got ${describeValue(value)}`);
  else if (/[?#]/.test(value)) c.add(path, `must not contain '?' or '#': it is compared with the path alone; got ${describeValue(value)}`);
}

function checkRegExp(c: Checker, path: string, source: string): void {
  try {
    new RegExp(source);
  } catch (err) {
    c.add(path, `is not a valid regular expression: ${(err as Error).message}`);
  }
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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 1123 host name; an all-digit last label is taken for a mistyped IPv4 address. */
export function isDnsName(name: string): boolean {
  if (name.length > 253) return false;
  const labels = name.split('.');
  return labels.every((l) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/i.test(l)) && !/^[0-9]+$/.test(labels[labels.length - 1]);
}
