// Tables as kubectl prints them: upper-case headers, columns two spaces apart, the last
// column unpadded; and ages in kubectl's short form (45s, 12m, 3h, 5d, 2y).

export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = columnWidths(headers, rows);
  return [headers.map((h) => h.toUpperCase()), ...rows].map((r) => formatRow(r, widths)).join('');
}

/** The width of each column: its widest cell, header included. */
export function columnWidths(headers: readonly string[], rows: readonly (readonly string[])[]): number[] {
  return headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
}

/** One line of a table whose widths were fixed earlier (`get -w` prints rows as they come). */
export function formatRow(row: readonly string[], widths: readonly number[]): string {
  return row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ') + '\n';
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
