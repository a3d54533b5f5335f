// Gateway API's route matches, as both the API's kinds and the proxy's static file take
// them: HTTPRoute's path, headers, query parameters and method, and GRPCRoute's service,
// method and headers; with the rules the schema cannot say (regular expressions that
// compile, paths a normalized request can carry, each header and parameter matched once).

import Type, { type Static } from 'typebox';
import { closed, describeValue, HTTP_METHODS, Opt } from './schema-kit.ts';
import { checkRegExp, entries, firstSeen, isRecord, type RuleContext } from './route-check.ts';
import { HeaderName, HeaderValue, MatchType } from './route-fields.ts';

export const PATH_MATCH_TYPES = ['Exact', 'PathPrefix', 'RegularExpression'] as const;

export const HeaderMatch = Type.Object({ type: Opt(MatchType), name: HeaderName, value: HeaderValue }, closed);

export const HttpMatchSchema = Type.Object(
  {
    /** Default {type: PathPrefix, value: /}. */
    path: Opt(Type.Object({ type: Opt(Type.Enum(PATH_MATCH_TYPES)), value: Opt(Type.String({ maxLength: 1024 })) }, closed)),
    headers: Opt(Type.Array(HeaderMatch, { maxItems: 16 })),
    queryParams: Opt(Type.Array(Type.Object({ type: Opt(MatchType), name: HeaderName, value: Type.String({ minLength: 1, maxLength: 1024 }) }, closed), { maxItems: 16 })),
    method: Opt(Type.Enum(HTTP_METHODS)),
  },
  closed,
);
export type HttpMatchSpec = Static<typeof HttpMatchSchema>;

export const GrpcMatchSchema = Type.Object(
  {
    /** The gRPC method: `service` is the fully qualified service (helloworld.Greeter), `method` its method (SayHello). */
    method: Opt(Type.Object({ type: Opt(MatchType), service: Opt(Type.String({ maxLength: 1024 })), method: Opt(Type.String({ maxLength: 1024 })) }, closed)),
    headers: Opt(Type.Array(HeaderMatch, { maxItems: 16 })),
  },
  closed,
);

// --- HTTPRoute ---

export function checkHttpMatch(m: Record<string, unknown>, path: string, ctx: RuleContext): void {
  const p = m.path;
  if (isRecord(p) && ctx.sound(`${path}.path`)) {
    const value = typeof p.value === 'string' ? p.value : '/';
    if (p.type === 'RegularExpression') checkRegExp(value, `${path}.path.value`, ctx.add);
    else {
      const problem = pathProblem(value);
      if (problem !== undefined) ctx.add(`${path}.path.value`, problem);
    }
  }
  checkHeaderMatches(m.headers, `${path}.headers`, ctx);
  // Query parameter names are case-sensitive, unlike header names.
  checkNamed(m.queryParams, `${path}.queryParams`, ctx, (name) => name, (q, first) => `query parameter '${q}' is already matched by queryParams[${first}]; match each parameter once`);
}

/** Header names are case-insensitive, so `Foo` and `foo` name one header: matching it twice is a mistake. */
export function checkHeaderMatches(headers: unknown, path: string, ctx: RuleContext): void {
  checkNamed(headers, path, ctx, (name) => name.toLowerCase(), (h, first) => `header '${h}' is already matched by headers[${first}] (header names ignore case); match each header once`);
}

/** Each name once (as `key` folds it), and a regular expression value that compiles. */
function checkNamed(list: unknown, path: string, ctx: RuleContext, key: (name: string) => string, twice: (name: string, first: number) => string): void {
  const seen = new Map<string, number>();
  entries(list).forEach((h, k) => {
    const at = `${path}[${k}]`;
    if (!isRecord(h)) return;
    const first = typeof h.name === 'string' && ctx.sound(`${at}.name`) ? firstSeen(seen, key(h.name), k) : undefined;
    if (first !== undefined) ctx.add(`${at}.name`, twice(h.name as string, first));
    if (h.type === 'RegularExpression' && typeof h.value === 'string' && ctx.sound(`${at}.value`)) checkRegExp(h.value, `${at}.value`, ctx.add);
  });
}

/** RFC 3986 path characters and %-escapes, as Gateway API allows in Exact and PathPrefix values. */
const PATH_CHARACTERS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;

/** Why an Exact or PathPrefix value could never match a normalized request path, if it could not. */
export function pathProblem(value: string): string | undefined {
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

// --- GRPCRoute ---

/** Protobuf names: a package-qualified service (a leading '.' allowed) and a method identifier. */
const SERVICE_NAME = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const METHOD_NAME = /^[A-Za-z_][A-Za-z_0-9]*$/;

export function checkGrpcMatch(m: Static<typeof GrpcMatchSchema>, path: string, ctx: RuleContext): void {
  if (m.method !== undefined) checkMethodMatch(m.method, `${path}.method`, ctx);
  checkHeaderMatches(m.headers, `${path}.headers`, ctx);
}

function checkMethodMatch(m: NonNullable<Static<typeof GrpcMatchSchema>['method']>, path: string, ctx: RuleContext): void {
  if (m.service === undefined && m.method === undefined) return ctx.add(path, 'needs service, method or both: a method match without either matches nothing in particular (leave out method to match every call)');
  if (m.type === 'RegularExpression') {
    if (m.service !== undefined) checkRegExp(m.service, `${path}.service`, ctx.add);
    if (m.method !== undefined) checkRegExp(m.method, `${path}.method`, ctx.add);
    return;
  }
  // The usual slip is the whole :path, /helloworld.Greeter/SayHello, in one field.
  const split = 'write the service and the method in their own fields, as in service: helloworld.Greeter, method: SayHello';
  if (m.service !== undefined && !SERVICE_NAME.test(m.service)) {
    ctx.add(`${path}.service`, `'${m.service}' is not a gRPC service name: ${m.service.includes('/') ? split : 'dot-separated identifiers such as helloworld.Greeter'}`);
  }
  if (m.method !== undefined && !METHOD_NAME.test(m.method)) {
    ctx.add(`${path}.method`, `'${m.method}' is not a gRPC method name: ${m.method.includes('/') ? split : 'an identifier such as SayHello'}`);
  }
}
