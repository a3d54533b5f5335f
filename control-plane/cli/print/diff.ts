// A unified diff of two texts, line by line (LCS), with three lines of context, as
// `diff -u` prints it. Manifests are small, so the quadratic table is fine.

const CONTEXT = 3;

type Op = { readonly sign: ' ' | '-' | '+'; readonly line: string; readonly a: number; readonly b: number };

/** '' when the texts are equal. */
export function unifiedDiff(before: string, after: string, fromLabel: string, toLabel: string): string {
  const ops = lineOps(lines(before), lines(after));
  if (ops.every((o) => o.sign === ' ')) return '';
  let out = `--- ${fromLabel}\n+++ ${toLabel}\n`;
  const changed = ops.map((o, i) => (o.sign === ' ' ? -1 : i)).filter((i) => i >= 0);
  for (let k = 0; k < changed.length; ) {
    const start = Math.max(0, changed[k] - CONTEXT);
    let end = changed[k];
    // Changes closer than two contexts apart share a hunk.
    while (k < changed.length && changed[k] <= end + 2 * CONTEXT) end = changed[k++];
    const hunk = ops.slice(start, Math.min(ops.length, end + CONTEXT + 1));
    const aLen = hunk.filter((o) => o.sign !== '+').length;
    const bLen = hunk.filter((o) => o.sign !== '-').length;
    const aStart = aLen === 0 ? hunk[0].a : hunk[0].a + 1;
    const bStart = bLen === 0 ? hunk[0].b : hunk[0].b + 1;
    out += `@@ -${aStart},${aLen} +${bStart},${bLen} @@\n${hunk.map((o) => `${o.sign}${o.line}\n`).join('')}`;
  }
  return out;
}

function lines(text: string): string[] {
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

/** Each op carries how many lines of `a` and `b` came before it (the hunk header needs them). */
function lineOps(a: readonly string[], b: readonly string[]): Op[] {
  // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) ops.push({ sign: ' ', line: a[i], a: i++, b: j++ });
    // Removals before additions where both would do, as diff -u orders them.
    else if (i < a.length && (j === b.length || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push({ sign: '-', line: a[i], a: i++, b: j });
    else ops.push({ sign: '+', line: b[j], a: i, b: j++ });
  }
  return ops;
}
