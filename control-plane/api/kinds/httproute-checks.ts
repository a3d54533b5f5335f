// The rules of an HTTPRoute its schema cannot say: Gateway API's CEL rules (path syntax,
// filter combinations, ReplacePrefixMatch, timeouts), which the upstream CRD makes the
// Kubernetes API server enforce, so a route refused there is refused here in plain words;
// and the GAMMA rules shared with GRPCRoute (gateway-common.ts).

import { checkDurations, describeValue, parseDuration } from '../../../kinds/schema-kit.ts';
import type { Add } from '../kind.ts';
import { checkFilters, checkHeaderMatches, checkHostnames, checkParentRefs, checkRegExp, checkRules, checkServiceRef, COMMON_FILTERS, type FilterRule } from './gateway-common.ts';
import type { HTTPPathModifier, HTTPRequestRedirect, HTTPRouteFilter, HTTPRouteMatch, HTTPRouteRule, HTTPRouteSpec, HTTPURLRewrite } from './httproute.ts';
import { firstSeen } from './kube-names.ts';

const HTTP_FILTERS = {
  ...COMMON_FILTERS,
  RequestRedirect: { field: 'requestRedirect', check: checkRedirect },
  URLRewrite: { field: 'urlRewrite', check: checkRewrite },
} as const satisfies Record<HTTPRouteFilter['type'], FilterRule>;

export function checkHTTPRoute(spec: HTTPRouteSpec, add: Add): void {
  checkParentRefs(spec.parentRefs, add);
  checkHostnames(spec.hostnames ?? [], add);
  const rules = spec.rules ?? [];
  // A rule without matches gets one by default (path prefix /), and it counts toward the cap.
  checkRules(rules, 1, add);
  rules.forEach((rule, j) => checkRule(rule, `spec.rules[${j}]`, add));
}

function checkRule(rule: HTTPRouteRule, path: string, add: Add): void {
  (rule.matches ?? []).forEach((m, k) => checkMatch(m, `${path}.matches[${k}]`, add));
  const types = checkFilterList(rule.filters ?? [], `${path}.filters`, add);
  const redirect = types.get('RequestRedirect');
  if (redirect !== undefined && (rule.backendRefs ?? []).length > 0) {
    add(`${path}.backendRefs`, `must be empty when a RequestRedirect filter (filters[${redirect}]) answers the request: a redirected request is not forwarded`);
  }
  (rule.backendRefs ?? []).forEach((b, k) => {
    checkServiceRef(b, `${path}.backendRefs[${k}]`, add);
    checkFilterList(b.filters ?? [], `${path}.backendRefs[${k}].filters`, add);
  });
  checkPrefixReplacement(rule, path, add);
  if (rule.timeouts !== undefined) checkTimeouts(rule.timeouts, `${path}.timeouts`, add);
}

/** A rule's or a backendRef's filters: the shared rules, and a redirect and a rewrite never together. */
function checkFilterList(filters: readonly HTTPRouteFilter[], path: string, add: Add): Map<string, number> {
  const types = checkFilters(filters, path, HTTP_FILTERS, add);
  const redirect = types.get('RequestRedirect');
  const rewrite = types.get('URLRewrite');
  if (redirect !== undefined && rewrite !== undefined) {
    add(`${path}[${Math.max(redirect, rewrite)}].type`, `RequestRedirect (filters[${redirect}]) and URLRewrite (filters[${rewrite}]) cannot be combined: a redirect answers the request, so nothing is forwarded to rewrite`);
  }
  return types;
}

// --- matches ---

function checkMatch(m: HTTPRouteMatch, path: string, add: Add): void {
  if (m.path !== undefined) {
    const type = m.path.type ?? 'PathPrefix';
    const value = m.path.value ?? '/';
    if (type === 'RegularExpression') checkRegExp(value, `${path}.path.value`, add);
    else {
      const problem = pathProblem(value);
      if (problem !== undefined) add(`${path}.path.value`, problem);
    }
  }
  checkHeaderMatches(m.headers ?? [], `${path}.headers`, add);
  // Query parameter names are case-sensitive, unlike header names.
  const names = new Map<string, number>();
  (m.queryParams ?? []).forEach((q, k) => {
    const first = firstSeen(names, q.name, k);
    if (first !== undefined) add(`${path}.queryParams[${k}].name`, `query parameter '${q.name}' is already matched by queryParams[${first}]; match each parameter once`);
    if (q.type === 'RegularExpression') checkRegExp(q.value, `${path}.queryParams[${k}].value`, add);
  });
}

/** RFC 3986 path characters and %-escapes, as Gateway API allows in Exact and PathPrefix values. */
const PATH_CHARACTERS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;

/** Why an Exact or PathPrefix value could never match a normalized request path, if it could not. */
function pathProblem(value: string): string | undefined {
  if (!value.startsWith('/')) return `must be an absolute path starting with '/'; got ${describeValue(value)}`;
  if (value.includes('//')) return `must not contain '//': request paths are matched after empty segments are merged; got ${describeValue(value)}`;
  if (value.includes('/./') || value.endsWith('/.') || value.includes('/../') || value.endsWith('/..')) {
    return `must not contain '.' or '..' segments: request paths are matched after they are resolved; got ${describeValue(value)}`;
  }
  if (/%2f/i.test(value)) return `must not contain '%2F' (an escaped '/'), which proxies and servers decode differently; got ${describeValue(value)}`;
  if (value.includes('#')) return `must not contain '#': a fragment is never sent to the server; got ${describeValue(value)}`;
  if (value.includes('?')) return `must not contain '?': match the query with queryParams; got ${describeValue(value)}`;
  if (!PATH_CHARACTERS.test(value)) return `may hold only letters, digits, the characters -._~!$&'()*+,;=:@/ and %-escapes (%XX); got ${describeValue(value)}`;
  return undefined;
}

// --- filters ---

export function checkRedirect(r: HTTPRequestRedirect, path: string, add: Add): void {
  // Gateway API allows an empty redirect, but it sends the client back to the very URL it asked for.
  if (r.scheme === undefined && r.hostname === undefined && r.path === undefined && r.port === undefined) {
    add(path, 'redirects to the URL that was requested, a loop: give scheme, hostname, path or port');
  }
  if (r.path !== undefined) checkPathModifier(r.path, `${path}.path`, add);
}

export function checkRewrite(r: HTTPURLRewrite, path: string, add: Add): void {
  if (r.hostname === undefined && r.path === undefined) add(path, 'rewrites nothing: give hostname, path or both');
  if (r.path !== undefined) checkPathModifier(r.path, `${path}.path`, add);
}

/** The value beside `type` is the one its type names, and a path a request can carry. */
function checkPathModifier(p: HTTPPathModifier, path: string, add: Add): void {
  const [field, other] = p.type === 'ReplaceFullPath' ? (['replaceFullPath', 'replacePrefixMatch'] as const) : (['replacePrefixMatch', 'replaceFullPath'] as const);
  if (p[other] !== undefined) add(`${path}.${other}`, `does not go with type ${p.type}; use type: ${other === 'replaceFullPath' ? 'ReplaceFullPath' : 'ReplacePrefixMatch'} to set it`);
  const value = p[field];
  if (value === undefined) return add(`${path}.${field}`, `is required when type is ${p.type}`);
  // An empty replacePrefixMatch is Gateway API's way to strip the prefix.
  if (!value.startsWith('/') && !(field === 'replacePrefixMatch' && value === '')) add(`${path}.${field}`, `must start with '/': it becomes the request's path; got ${describeValue(value)}`);
}

/** ReplacePrefixMatch replaces the prefix the rule matched, so the rule must have exactly one, a PathPrefix match (a CEL rule). */
function checkPrefixReplacement(rule: HTTPRouteRule, path: string, add: Add): void {
  const matches = rule.matches;
  // Without `matches` the rule gets the default single match, a PathPrefix one.
  const problem =
    matches === undefined ? undefined
    : matches.length !== 1 ? `this rule has ${matches.length === 0 ? 'no' : matches.length} matches`
    : (matches[0].path?.type ?? 'PathPrefix') !== 'PathPrefix' ? `matches[0] has type ${matches[0].path?.type}`
    : undefined;
  if (problem === undefined) return;
  const lists = [{ at: `${path}.filters`, filters: rule.filters ?? [] }, ...(rule.backendRefs ?? []).map((b, k) => ({ at: `${path}.backendRefs[${k}].filters`, filters: b.filters ?? [] }))];
  for (const { at, filters } of lists) {
    filters.forEach((f, k) => {
      const field = f.type === 'RequestRedirect' ? 'requestRedirect' : f.type === 'URLRewrite' ? 'urlRewrite' : undefined;
      if (field !== undefined && f[field]?.path?.type === 'ReplacePrefixMatch') {
        add(`${at}[${k}].${field}.path.type`, `ReplacePrefixMatch needs the rule to have exactly one match, a PathPrefix match (the prefix it replaces); ${problem}`);
      }
    });
  }
}

// --- timeouts ---

function checkTimeouts(t: NonNullable<HTTPRouteRule['timeouts']>, path: string, add: Add): void {
  checkDurations(add, path, { request: t.request, backendRequest: t.backendRequest });
  // A zero request timeout means none, so any backendRequest fits under it.
  if (t.request !== undefined && t.backendRequest !== undefined && parseDuration(t.request) !== 0 && parseDuration(t.backendRequest) > parseDuration(t.request)) {
    add(`${path}.backendRequest`, `must not be longer than the request timeout (${t.request}), which covers every try; got ${t.backendRequest}`);
  }
}
