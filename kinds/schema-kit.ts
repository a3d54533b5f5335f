// The JSON-Schema kit both sides build their documents from: the common field types
// (typebox), the patterns they use, and the turning of an ajv error into a violation an
// operator can read (our field path and a plain sentence). The proxy's static config and
// the control plane's resource kinds are written with it, so a mistake reads the same in
// a proxy's config file and in `sluicectl apply`.

import type { ErrorObject } from 'ajv';
import Type, { type TSchema } from 'typebox';
import { HEADER_NAME_PATTERN } from './http-names.ts';

export { HEADER_NAME_PATTERN, HTTP_METHODS } from './http-names.ts';

/** One problem in a document, at a field path like `spec.rules[1].backendRefs[0].name`. */
export type Violation = { readonly path: string; readonly message: string };

/** Names of listeners, routes, rules and backends: DNS-label-ish, as Kubernetes names. */
export const NAME_PATTERN = '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$';
/** No CR, LF or NUL: they would split or end the header line. */
export const HEADER_VALUE_PATTERN = '^[^\\r\\n\\0]*$';
/** Gateway API Duration (GEP-2257): 1h, 10s, 1m30s, 500ms. */
export const DURATION_PATTERN = '^([0-9]{1,5}(h|m|s|ms)){1,4}$';
/** DNS-1123 label (RFC 1123): Kubernetes namespaces and Service port names. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** DNS-1123 subdomain: labels joined by '.', as Gateway API's SectionName and PreciseHostname. */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Gateway API Hostname: a DNS subdomain, optionally starting with a '*.' wildcard label. */
export const WILDCARD_HOSTNAME_PATTERN = '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Gateway API Group: '' (the core group) or a DNS subdomain. */
export const API_GROUP_PATTERN = '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Gateway API Kind: a CamelCase kind name such as Service. */
export const KIND_PATTERN = '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$';
/** setTimeout's ceiling (about 24.8 days); a longer timer fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;


export const closed = { additionalProperties: false } as const;
export const Opt = <T extends TSchema>(t: T) => Type.Optional(t);

export const Name = Type.String({ pattern: NAME_PATTERN, maxLength: 253 });
/** A reference to something named elsewhere; validate.ts says whether it exists. */
export const Ref = Type.String({ minLength: 1 });
export const Text = Type.String({ minLength: 1 });
export const Count = Type.Integer({ minimum: 1, maximum: MAX_TIMER_MS });
export const Duration = Type.String({ pattern: DURATION_PATTERN });


// --- ajv errors -> violations ---

/** One ajv error as the operator should read it: our field path and a plain sentence. */
export function structuralViolation(e: ErrorObject): Violation {
  const path = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  const schema = (e.parentSchema ?? {}) as { properties?: object; minimum?: number; maximum?: number };
  switch (e.keyword) {
    case 'required':
      return { path: join(path, String(p.missingProperty)), message: 'is required' };
    case 'additionalProperties': {
      const field = String(p.additionalProperty);
      const known = Object.keys(schema.properties ?? {});
      const hint = didYouMean(field, known);
      return { path: join(path, field), message: `unknown field '${field}'; ${hint === undefined ? `known fields: ${known.join(', ')}` : `did you mean '${hint}'?`}` };
    }
    case 'type': {
      // YAML reads an unquoted 8080 or true as a number or a boolean.
      const quote = p.type === 'string' && (typeof e.data === 'number' || typeof e.data === 'boolean') ? ` (quote it: "${e.data}")` : '';
      return { path: path || '(document)', message: `must be ${TYPE_WORDS[String(p.type)] ?? String(p.type)}; got ${describeValue(e.data)}${quote}` };
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(String);
      const hint = typeof e.data === 'string' ? didYouMean(e.data, allowed) : undefined;
      return { path, message: `must be one of ${allowed.join(', ')}; got ${describeValue(e.data)}${hint === undefined ? '' : `; did you mean '${hint}'?`}` };
    }
    case 'minimum':
    case 'maximum': {
      const { minimum: lo, maximum: hi } = schema;
      const range = lo !== undefined && hi !== undefined ? `between ${lo} and ${hi}` : lo !== undefined ? `at least ${lo}` : `at most ${hi}`;
      return { path, message: `must be ${range}; got ${describeValue(e.data)}` };
    }
    case 'minItems':
    case 'minLength':
      return { path, message: p.limit === 1 ? 'must not be empty' : `must have at least ${p.limit} ${e.keyword === 'minItems' ? 'entries' : 'characters'}` };
    case 'maxItems':
      return { path, message: `must have at most ${p.limit} entries; got ${Array.isArray(e.data) ? e.data.length : 'more'}` };
    case 'maxLength':
      return { path, message: `must be at most ${p.limit} characters long; got ${String(e.data).length}` };
    case 'pattern':
      return { path, message: (PATTERN_WORDS[String(p.pattern)] ?? ((v) => `${v} must match ${String(p.pattern)}`))(describeValue(e.data)) };
    default:
      return { path: path || '(document)', message: e.message ?? 'is not valid' };
  }
}

/** For an unknown field with a close known one: the path of the field the operator meant. */
export function meantField(e: ErrorObject): string | undefined {
  if (e.keyword !== 'additionalProperties') return undefined;
  const hint = didYouMean(String(e.params.additionalProperty), Object.keys((e.parentSchema?.properties ?? {}) as object));
  return hint === undefined ? undefined : join(pointerToPath(e.instancePath), hint);
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
};

const PATTERN_WORDS: Record<string, (value: string) => string> = {
  [NAME_PATTERN]: (v) => `${v} is not a valid name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`,
  [DURATION_PATTERN]: (v) => `${v} is not a duration: write it like 500ms, 10s, 1m30s or 1h`,
  [HEADER_NAME_PATTERN]: (v) => `${v} is not a valid header name (RFC 9110 token: letters, digits and !#$%&'*+-.^_\`|~)`,
  [HEADER_VALUE_PATTERN]: () => 'must not contain CR, LF or NUL characters',
  [DNS_LABEL_PATTERN]: (v) => `${v} is not a valid DNS label: use lower-case letters, digits and '-', starting and ending with a letter or digit`,
  [DNS_SUBDOMAIN_PATTERN]: (v) => `${v} is not a valid DNS subdomain: lower-case labels of letters, digits and '-', joined by '.'`,
  [WILDCARD_HOSTNAME_PATTERN]: (v) => `${v} is not a valid hostname: lower-case DNS labels joined by '.', optionally starting with a '*.' wildcard label`,
  [API_GROUP_PATTERN]: (v) => `${v} is not an API group: write "" for the core group (Service), or a DNS subdomain like gateway.networking.k8s.io`,
  [KIND_PATTERN]: (v) => `${v} is not a kind: letters, digits and '-', starting with a letter, like Service`,
};

/** `/routes/1/rules/0` -> `routes[1].rules[0]`. */
export function pointerToPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    path = /^\d+$/.test(key) ? `${path}[${key}]` : join(path, key);
  }
  return path;
}

function join(path: string, key: string): string {
  const field = /^[\w-]+$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  return path === '' || field.startsWith('[') ? path + field : `${path}.${field}`;
}

/** How a message quotes a value (kinds/describe-value.ts: no imports, for the CLI too). */
import { describeValue } from './describe-value.ts';
export { describeValue };

/** The known word `word` was most likely meant as (kinds/did-you-mean.ts: no imports, so the CLI hints without loading this kit). */
import { didYouMean } from './did-you-mean.ts';
export { didYouMean };

/** Reports each duration (already matching DURATION_PATTERN) longer than a timer can wait, at `path.key`. */
export function checkDurations(add: (path: string, message: string) => void, path: string, durations: Record<string, string | undefined>): void {
  for (const [key, text] of Object.entries(durations)) {
    if (text !== undefined && parseDuration(text) > MAX_TIMER_MS) add(`${path}.${key}`, `must be at most ${MAX_TIMER_MS} ms (about 596h); got ${text}`);
  }
}

/** A Gateway API duration (already matching DURATION_PATTERN) in ms. */
export function parseDuration(text: string): number {
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let ms = 0;
  for (const [, n, u] of text.matchAll(/(\d+)(ms|h|m|s)/g)) ms += Number(n) * unit[u];
  return ms;
}
