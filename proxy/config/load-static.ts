// The static config source: YAML text -> one document -> validate (every violation, with
// its path) -> the normalized model with every default filled -> deepFreeze.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isScalar, LineCounter, parseAllDocuments, visit, type Document } from 'yaml';
import type { Result, Violation } from '../errors.ts';
export { formatViolations } from '../errors.ts';
export { deepFreeze } from './frozen.ts';
import { hashOn } from '../../kinds/load-balancing.ts';
import { mirrorPercent } from '../../kinds/route-filters/index.ts';
import { tracingConfig } from '../../kinds/tracing-spec.ts';
import { deepFreeze } from './frozen.ts';
import type { Backend, BackendFilter, HashOn, IdentityFiles, HeaderModifier, HttpRoute, Listener, NodeInfo, PathModifier, ProxyConfig, RouteFilter, RouteMatch, RouteRule } from './model.ts';
import { resolvePolicies, type BackendPolicies, type RulePolicies } from './resolve-policies.ts';
import { defaultHttpLimits } from './model.ts';
import type { RawBackend, RawConfig, RawIdentity, RawFilter, RawHeaderModifier, RawListener, RawMatch, RawPathModifier, RawRoute, RawRule } from './schema.ts';
import { parseDuration } from './schema.ts';
import { validateDocument, type ValidateOptions } from './validate.ts';

export type LoadOptions = ValidateOptions;

/** Parses and validates one YAML config document; never throws for bad input. */
export function parseStaticConfig(text: string, opts: LoadOptions = {}): Result<ProxyConfig, Violation[]> {
  const doc = parseYaml(text);
  if (!doc.ok) return doc;
  const violations = validateDocument(doc.value, opts);
  if (violations.length > 0) return { ok: false, error: sortViolations(violations) };
  return { ok: true, value: deepFreeze(normalize(doc.value as RawConfig)) };
}

/** Reads `file` and parses it; a file that cannot be read is one violation, not an exception. */
export async function loadStaticConfig(file: string, opts: LoadOptions = {}): Promise<Result<ProxyConfig, Violation[]>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, error: [{ path: '(file)', message: `cannot read the config file: ${(err as Error).message}` }] };
  }
  return parseStaticConfig(text, opts);
}

/** Document order: sections as a file lists them, list indices by number, then fields by name. */
function sortViolations(list: Violation[]): Violation[] {
  const rank = (t: string): number => ({ node: 1, identity: 2, listeners: 3, routes: 4, backends: 5, policies: 6 })[t] ?? (t.startsWith('(') ? 0 : 7);
  const tokens = (p: string) => p.split(/[.[\]]+/).filter((t) => t !== '');
  const compare = (a: Violation, b: Violation): number => {
    const [x, y] = [tokens(a.path), tokens(b.path)];
    if (x[0] !== y[0]) return rank(x[0]) - rank(y[0]) || (x[0] < y[0] ? -1 : 1);
    for (let i = 1; i < Math.min(x.length, y.length); i++) {
      if (x[i] === y[i]) continue;
      const numeric = /^\d+$/.test(x[i]) && /^\d+$/.test(y[i]);
      return numeric ? Number(x[i]) - Number(y[i]) : x[i] < y[i] ? -1 : 1;
    }
    return x.length - y.length;
  };
  const seen = new Set<string>();
  return list.filter((v) => !seen.has(`${v.path}\0${v.message}`) && seen.add(`${v.path}\0${v.message}`)).sort(compare);
}

// --- YAML ---

function parseYaml(text: string): Result<unknown, Violation[]> {
  const lines = new LineCounter();
  const at = (offset: number): string => {
    const { line, col } = lines.linePos(offset);
    return `(yaml) line ${line}, column ${col}`;
  };
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  // A bare `---` or a comment-only tail is an empty document, not a second config.
  const docs = (Array.isArray(parsed) ? parsed : []).filter((d) => d.errors.length > 0 || !isEmpty(d));
  const problems = docs.flatMap((d) => [...d.errors, ...d.warnings]).map((e) => ({ path: at(e.pos[0]), message: e.message }));
  if (problems.length > 0) return { ok: false, error: problems };
  if (docs.length > 1) {
    return { ok: false, error: [{ path: at(docs[1].range[0]), message: `a config file holds one YAML document; this is the start of document 2 of ${docs.length}` }] };
  }
  const dangling: Violation[] = [];
  if (docs.length === 1) {
    visit(docs[0], {
      Alias(_, alias) {
        if (alias.resolve(docs[0]) === undefined) dangling.push({ path: at(alias.range?.[0] ?? 0), message: `alias *${alias.source} names no anchor before it` });
      },
    });
  }
  if (dangling.length > 0) return { ok: false, error: dangling };
  let value: unknown;
  try {
    value = docs.length === 0 ? null : docs[0].toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, error: [{ path: '(yaml)', message: (err as Error).message }] };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = docs.length === 0 ? 'the file is empty' : Array.isArray(value) ? 'got a list' : `got ${value === null ? 'null' : JSON.stringify(value)}`;
    return { ok: false, error: [{ path: '(document)', message: `the config must be a mapping with 'listeners' (and optionally 'node', 'routes', 'backends' and 'policies'); ${got}` }] };
  }
  return { ok: true, value };
}

function isEmpty(d: Document.Parsed): boolean {
  const c = d.contents;
  return c === null || (isScalar(c) && c.value === null && c.range[0] === c.range[1]);
}

// --- normalization: raw (validated) -> model, every default filled ---

type Policies = ReturnType<typeof resolvePolicies>;

function normalize(raw: RawConfig): ProxyConfig {
  const policies = resolvePolicies(raw);
  const node = raw.node?.zone === undefined ? {} : { zone: raw.node.zone };
  return {
    node,
    identity: identity(raw.identity),
    listeners: raw.listeners.map((l) => listener(l, policies)),
    routes: (raw.routes ?? []).map((r) => route(r, policies)),
    backends: (raw.backends ?? []).map((b) => backend(b, node, policies.backend(b.name))),
    ...(raw.tracing === undefined ? {} : { tracing: tracingConfig(raw.tracing) }),
  };
}

function identity(id: RawIdentity | undefined): IdentityFiles | null {
  if (id === undefined) return null;
  // validate.ts guarantees either dir or all three files.
  if (id.dir !== undefined) return { cert: join(id.dir, 'cert.pem'), key: join(id.dir, 'key.pem'), bundle: join(id.dir, 'bundle.pem') };
  return { cert: id.certFile ?? '', key: id.keyFile ?? '', bundle: id.bundleFile ?? '' };
}

function listener(l: RawListener, policies: Policies): Listener {
  const base = { name: l.name, address: l.address, port: l.port, tls: { mode: l.tls?.mode ?? 'DISABLE' }, ...(l.direction === undefined ? {} : { direction: l.direction }) };
  // validate.ts guarantees a tcp listener has its backend.
  if (l.protocol === 'tcp') return { ...base, protocol: 'tcp', backend: l.backend ?? '', authorization: policies.tcpListener(l.name) };
  return { ...base, protocol: 'http', limits: { ...defaultHttpLimits, ...l.limits }, escapedSlashes: l.escapedSlashes ?? 'Reject', pathParameters: l.pathParameters ?? 'Reject', ...policies.listener(l.name) };
}

function route(r: RawRoute, policies: Policies): HttpRoute {
  return {
    name: r.name,
    parentRefs: (r.parentRefs ?? []).map((p) => p.name),
    hostnames: (r.hostnames ?? []).map((h) => h.toLowerCase()),
    rules: r.rules.map((x) => rule(x, policies.rule(r.name, x.name))),
  };
}

function rule(r: RawRule, policies: RulePolicies): RouteRule {
  const matches = r.matches === undefined || r.matches.length === 0 ? [{}] : r.matches;
  const timeouts: { request?: number; backendRequest?: number } = {};
  // Gateway API: a zero duration means no timeout.
  for (const key of ['request', 'backendRequest'] as const) {
    const text = r.timeouts?.[key];
    if (text !== undefined && parseDuration(text) > 0) timeouts[key] = parseDuration(text);
  }
  return {
    ...(r.name === undefined ? {} : { name: r.name }),
    matches: matches.map(match),
    filters: (r.filters ?? []).map(filter),
    backendRefs: (r.backendRefs ?? []).map((b) => ({ name: b.name, weight: b.weight ?? 1, ...((b.filters ?? []).length === 0 ? {} : { filters: b.filters!.map(filter) as BackendFilter[] }) })),
    timeouts,
    ...policies,
  };
}

function match(m: RawMatch): RouteMatch {
  return {
    path: { type: m.path?.type ?? 'PathPrefix', value: m.path?.value ?? '/' },
    headers: (m.headers ?? []).map((h) => ({ type: h.type ?? 'Exact', name: h.name.toLowerCase(), value: h.value })),
    queryParams: (m.queryParams ?? []).map((q) => ({ type: q.type ?? 'Exact', name: q.name, value: q.value })),
    ...(m.method === undefined ? {} : { method: m.method.toUpperCase() }),
  };
}

function filter(f: RawFilter): RouteFilter {
  // validate.ts guarantees the sub-object that goes with `type` is there.
  switch (f.type) {
    case 'RequestHeaderModifier':
      return { type: f.type, requestHeaderModifier: headerModifier(f.requestHeaderModifier) };
    case 'ResponseHeaderModifier':
      return { type: f.type, responseHeaderModifier: headerModifier(f.responseHeaderModifier) };
    case 'URLRewrite': {
      const u = f.urlRewrite ?? {};
      return { type: f.type, urlRewrite: { ...optional('hostname', u.hostname), ...optional('path', pathModifier(u.path)) } };
    }
    case 'RequestRedirect': {
      const r = f.requestRedirect ?? {};
      const requestRedirect = {
        ...optional('scheme', r.scheme),
        ...optional('hostname', r.hostname),
        ...optional('path', pathModifier(r.path)),
        ...optional('port', r.port),
        statusCode: r.statusCode ?? 302,
      };
      return { type: f.type, requestRedirect };
    }
    case 'RequestMirror': {
      const m = f.requestMirror ?? { backendRef: { name: '' } };
      return { type: f.type, requestMirror: { backendRef: { name: m.backendRef.name }, percent: mirrorPercent(m) } };
    }
    case 'ExtensionRef':
      // kinds/route-filters/extension-ref.ts refuses it with a reason.
      assert.fail('validate.ts refuses ExtensionRef filters');
  }
}

function headerModifier(m: RawHeaderModifier | undefined): HeaderModifier {
  const values = (list: readonly { name: string; value: string }[] | undefined) => (list ?? []).map((h) => ({ name: h.name.toLowerCase(), value: h.value }));
  return { set: values(m?.set), add: values(m?.add), remove: (m?.remove ?? []).map((n) => n.toLowerCase()) };
}

function pathModifier(p: RawPathModifier | undefined): PathModifier | undefined {
  if (p === undefined) return undefined;
  return p.type === 'ReplaceFullPath' ? { type: p.type, replaceFullPath: p.replaceFullPath ?? '' } : { type: p.type, replacePrefixMatch: p.replacePrefixMatch ?? '' };
}

/** `{ key: value }`, or nothing when the value is absent: the model has no `undefined` fields. */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function backend(b: RawBackend, node: NodeInfo, policies: BackendPolicies): Backend {
  const { connectTimeoutMs, idleTimeoutMs, loadBalancing: lb, ...resilience } = policies;
  // A policy that picks the balancer also says what it hashes on (or that it hashes on nothing).
  const picked = lb.loadBalancer !== undefined;
  return {
    name: b.name,
    protocol: b.protocol ?? 'http1',
    loadBalancer: lb.loadBalancer ?? b.loadBalancer ?? 'least-request',
    ...optional('hashOn', picked ? lb.hashOn : hashOn(b.hashOn)),
    failoverThreshold: lb.failoverThreshold ?? b.failoverThreshold ?? 71,
    // A policy is the more specific word: it names this backend on purpose.
    connectTimeoutMs: connectTimeoutMs ?? b.connectTimeoutMs ?? 5000,
    idleTimeoutMs: idleTimeoutMs ?? b.idleTimeoutMs ?? 60_000,
    endpoints: b.endpoints.map((e) => ({
      address: e.address,
      port: e.port,
      weight: e.weight ?? 1,
      ...optional('zone', e.zone),
      // Unknown zones are not "elsewhere": only a known, different zone is a failover level,
      // and under a policy's zones: Spread no zone is.
      priority: e.priority ?? (lb.zones !== 'Spread' && e.zone !== undefined && node.zone !== undefined && e.zone !== node.zone ? 1 : 0),
    })),
    ...resilience,
    tls: b.tls === undefined ? null : { identities: b.tls.identities, serverName: b.tls.serverName ?? b.name },
  };
}

