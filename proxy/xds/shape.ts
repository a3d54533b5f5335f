// What a Sluice proxy reads of each Envoy message, as data: the field lists of xds/SUBSET.md.
// A decoded resource is walked against its shape and every field set outside it is a
// problem with its path, so nothing the control plane says is silently dropped; the
// translators then read only fields a shape lists.

import { messageNameOf, unpack } from '../../xds/index.ts';

/**
 * A decoded protobuf message (xds/any.ts `unpack`): snake_case, enums by name, only set
 * fields. Its fields are `any` on purpose: the proto and the shape check, not a TS type,
 * guarantee what each one holds.
 */
export type Pb = { readonly [field: string]: any };

export type Problem = {
  readonly typeUrl: string;
  /** The resource's name (or `resources[i]` when it could not be decoded). */
  readonly name: string;
  /** Field path inside the resource, e.g. `filter_chains[0].filters[0].typed_config.http_filters[1].name`. */
  readonly path: string;
  readonly message: string;
};

/** Where problems of one resource go; `at` makes one for a field below. */
export type Sink = {
  add(path: string, message: string): void;
  at(path: string): Sink;
};

export function sinkFor(typeUrl: string, name: string, out: Problem[], prefix = ''): Sink {
  return {
    add: (path, message) => out.push({ typeUrl, name, path: join(prefix, path), message }),
    at: (path) => sinkFor(typeUrl, name, out, join(prefix, path)),
  };
}

export function join(prefix: string, path: string): string {
  if (prefix === '') return path;
  if (path === '') return prefix;
  return path.startsWith('[') ? `${prefix}${path}` : `${prefix}.${path}`;
}

// --- typed_config ---

/**
 * Unpacks an Any that must hold `typeUrl` and checks it against `shape`; problems (another
 * type, an unknown one, bytes that do not decode, fields outside the shape) go to `sink`
 * at `path`. undefined when it cannot be read at all.
 */
export function readTyped(any: Pb | undefined, typeUrl: string, shape: Shape, sink: Sink, path: string): Pb | undefined {
  if (any === undefined) {
    sink.add(path, `required: a ${messageNameOf(typeUrl)}`);
    return undefined;
  }
  const got = String(any.type_url ?? '');
  if (got !== typeUrl) {
    const known = unpack(any).ok ? `is a ${messageNameOf(got)}` : `'${got}' is a type Sluice proxies do not know`;
    sink.add(path, `${known}; a ${messageNameOf(typeUrl)} is expected here`);
    return undefined;
  }
  const decoded = unpack<Pb>(any);
  if (!decoded.ok) {
    sink.add(path, decoded.error);
    return undefined;
  }
  checkShape(decoded.value, shape, sink, path);
  return decoded.value;
}

/** The decoded Any, or undefined when it cannot be read (for looking names up, not for checking). */
export function unpackQuiet(any: Pb): Pb | undefined {
  const decoded = unpack<Pb>(any);
  return decoded.ok ? decoded.value : undefined;
}

// --- shapes ---

export type Shape =
  | { readonly kind: 'scalar' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'message'; readonly fields: Readonly<Record<string, Shape>> }
  | { readonly kind: 'map'; readonly value: Shape }
  /** A google.protobuf.Any: whoever reads it unpacks it and checks it against the shape of its type. */
  | { readonly kind: 'any' };

/** A string, number, bool or bytes field (or a list of them). */
export const scalar: Shape = { kind: 'scalar' };
export const anyValue: Shape = { kind: 'any' };
export const message = (fields: Record<string, Shape>): Shape => ({ kind: 'message', fields });
export const enumOf = (...values: string[]): Shape => ({ kind: 'enum', values });
export const mapOf = (value: Shape): Shape => ({ kind: 'map', value });
export const EMPTY = message({});

/** Reports every field set outside `shape`, and every enum value it does not list. A repeated field is walked element by element. */
export function checkShape(value: unknown, shape: Shape, sink: Sink, path = ''): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkShape(v, shape, sink, `${path}[${i}]`));
    return;
  }
  switch (shape.kind) {
    case 'scalar':
    case 'any':
      return;
    case 'enum':
      if (!shape.values.includes(value as string)) {
        const what = typeof value === 'number' ? `unknown value ${value}` : `${JSON.stringify(value)} is not supported`;
        sink.add(path, `${what}; a Sluice proxy reads ${shape.values.join(' or ')} (xds/SUBSET.md)`);
      }
      return;
    case 'map':
      for (const [key, v] of Object.entries(value as Pb)) checkShape(v, shape.value, sink, `${path}[${JSON.stringify(key)}]`);
      return;
    case 'message':
      for (const [key, v] of Object.entries(value as Pb)) {
        const field = shape.fields[key];
        if (field === undefined) sink.add(join(path, key), 'field not supported by Sluice proxies (xds/SUBSET.md lists what they read)');
        else checkShape(v, field, sink, join(path, key));
      }
  }
}

// --- well-known types ---

export const DURATION = message({ seconds: scalar, nanos: scalar });
/** UInt32Value, BoolValue. */
export const WRAPPED = message({ value: scalar });
/** A ConfigSource that says "over the same ADS stream"; V3 is the only API version there is. */
export const ADS_SOURCE = message({ ads: EMPTY, resource_api_version: enumOf('V3') });
export const SDS_SECRET = message({ name: scalar, sds_config: ADS_SOURCE });
export const ADDRESS = message({ socket_address: message({ address: scalar, port_value: scalar }) });

/** Node's timers overflow past 2^31 - 1 ms (about 24.8 days) and then fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A google.protobuf.Duration in ms, rounded up (a 0.5 ms timeout is not "none"); undefined after reporting what is wrong. */
export function durationMs(d: Pb, sink: Sink, path: string): number | undefined {
  const seconds = Number(d.seconds ?? 0);
  const nanos = Number(d.nanos ?? 0);
  if (seconds < 0 || nanos < 0) {
    sink.add(path, 'must not be negative');
    return undefined;
  }
  const ms = Math.ceil(seconds * 1000 + nanos / 1e6);
  if (ms > MAX_TIMER_MS) {
    sink.add(path, `must be at most ${MAX_TIMER_MS} ms (about 596h); got ${seconds}s`);
    return undefined;
  }
  return ms;
}

/** Checks that a ConfigSource (required) says ADS. */
export function requireAds(source: Pb | undefined, sink: Sink, path: string): void {
  if (source?.ads === undefined) sink.add(path, 'must be { ads: {} }: a Sluice proxy reads everything over its one ADS stream');
}
