// The nearest known word to a mistyped one, for "did you mean" hints. Its own file, with no
// imports, so the CLI can hint without loading the schema kit (and typebox with it).

export function didYouMean(word: string, known: readonly string[]): string | undefined {
  const squash = (s: string) => s.replace(/[-_]/g, '').toLowerCase();
  const same = known.find((k) => squash(k) === squash(word));
  if (same !== undefined) return same;
  let best: string | undefined;
  // Two slips in a short word; a long word may carry one more per four letters.
  let bestDistance = Math.max(3, Math.floor(word.length / 4) + 1);
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance && d < Math.max(word.length, k.length) / 2) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
