// google.protobuf.Any, both ways: a plain object of a known Envoy message packed into
// { type_url, value } for the wire, and an Any read back into a plain object. A type we do
// not know, or bytes that do not decode, come back as an error value that says which,
// because a proxy must NACK what it cannot read, never guess.

import type protobuf from 'protobufjs';
import { envoyTypes } from './protos.ts';
import { messageNameOf } from './type-urls.ts';

export type PackedAny = { readonly type_url: string; readonly value: Buffer };

export type Unpacked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** The plain-object form both sides read and write: snake_case fields, enums by name, 64-bit numbers as strings, and of a oneof only the member that is set. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, bytes: Buffer, defaults: false, oneofs: false };

// lookupType walks the namespace tree by name: worth a cache, as every Any goes through here.
const types = new Map<string, protobuf.Type | undefined>();

function typeOf(typeUrl: string): protobuf.Type | undefined {
  if (types.has(typeUrl)) return types.get(typeUrl);
  const name = messageNameOf(typeUrl);
  let type: protobuf.Type | undefined;
  try {
    type = name === undefined ? undefined : envoyTypes().lookupType(name);
  } catch {
    type = undefined;
  }
  types.set(typeUrl, type);
  return type;
}

/**
 * Encodes `message` (snake_case fields, as in the protos) as the Any of `typeUrl`. Throws
 * when the object does not fit the message: that is a bug in the generator, not input.
 */
export function pack(typeUrl: string, message: Record<string, unknown>): PackedAny {
  const type = typeOf(typeUrl);
  if (type === undefined) throw new Error(`cannot pack ${typeUrl}: not a type of the loaded Envoy protos`);
  // fromObject, not verify(): verify refuses enums given by name ('V3'), which fromObject maps.
  const value = Buffer.from(type.encode(type.fromObject(message)).finish());
  return { type_url: typeUrl, value };
}

/** Decodes an Any into the plain-object form; an unknown type or undecodable bytes are an error value. */
export function unpack<T = Record<string, unknown>>(any: { type_url?: string; value?: Uint8Array | Buffer | null }): Unpacked<T> {
  const typeUrl = any.type_url ?? '';
  const type = typeOf(typeUrl);
  if (type === undefined) return { ok: false, error: `unknown resource type '${typeUrl}'` };
  try {
    const decoded = type.decode(any.value ?? new Uint8Array(0));
    return { ok: true, value: type.toObject(decoded, TO_OBJECT) as T };
  } catch (err) {
    return { ok: false, error: `${typeUrl} does not decode: ${(err as Error).message}` };
  }
}
