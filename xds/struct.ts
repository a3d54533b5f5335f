// google.protobuf.Struct <-> plain JSON, in the shape @grpc/proto-loader reads and writes
// (the well-known types keep protobufjs's camelCase field names even under keepCase).

export type StructValue = Record<string, unknown>;

/** A JSON value as a google.protobuf.Value. */
export function toValue(v: unknown): StructValue {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v as Record<string, unknown>) };
}

/** A JSON object as a google.protobuf.Struct. */
export function toStruct(o: Record<string, unknown>): { fields: Record<string, StructValue> } {
  const fields: Record<string, StructValue> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) fields[k] = toValue(v);
  return { fields };
}

/** A decoded google.protobuf.Value as JSON; anything unrecognised is null. */
export function fromValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (typeof o.stringValue === 'string') return o.stringValue;
  if (typeof o.numberValue === 'number') return o.numberValue;
  if (typeof o.boolValue === 'boolean') return o.boolValue;
  if (o.listValue !== undefined) {
    const values = (o.listValue as { values?: unknown[] } | null)?.values;
    return Array.isArray(values) ? values.map(fromValue) : [];
  }
  if (o.structValue !== undefined) return fromStruct(o.structValue);
  return null;
}

/** A decoded google.protobuf.Struct as a JSON object ({} for anything else). */
export function fromStruct(s: unknown): Record<string, unknown> {
  const fields = s !== null && typeof s === 'object' ? (s as { fields?: unknown }).fields : undefined;
  if (fields === null || typeof fields !== 'object') return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields as Record<string, unknown>)) out[k] = fromValue(v);
  return out;
}
