// Tables as kubectl prints them: upper-case headers, columns two spaces apart, the last
// column unpadded; and ages in kubectl's short form (45s, 12m, 3h, 5d, 2y).

export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers.map((h) => h.toUpperCase()), ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ') + '\n').join('');
}

/** kubectl's ShortHumanDuration: the largest whole unit, so the column stays narrow. */
export function shortAge(ms: number): string {
  // A creation time a little ahead of our clock is skew between hosts, not an error.
  if (ms < -1000) return '<invalid>';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h`;
  const d = Math.floor(h / 24);
  return d < 365 ? `${d}d` : `${Math.floor(d / 365)}y`;
}

/** The age of a resource from its creationTimestamp, `<unknown>` without one. */
export function ageOf(creationTimestamp: string | undefined, now: number): string {
  const t = creationTimestamp === undefined ? NaN : Date.parse(creationTimestamp);
  return Number.isNaN(t) ? '<unknown>' : shortAge(now - t);
}
