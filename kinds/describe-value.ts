// How a message quotes a value. Its own file, with no imports, so the CLI can word its
// errors without loading the schema kit (and typebox with it).

/** A value as a message quotes it: 'text', 42, a list, a mapping, an empty value. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'an empty value';
  if (typeof v === 'string') return v.length > 60 ? `'${v.slice(0, 57)}...'` : `'${v}'`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}
