// `-o jsonpath=TEMPLATE`: the part of kubectl's JSONPath templates people type: literal
// text, `{.a.b}`, `{.items[*].metadata.name}`, `{.items[0]}`, `{.metadata.labels['app']}`,
// `{range .items[*]}...{end}` and `{"\n"}`. Several values print space-separated, maps and
// lists as JSON, as kubectl does. Anything else (filters, slices, `..`, functions) is
// refused by name before a request is made.

import { UsageError } from '../command.ts';

type Step = { readonly kind: 'field'; readonly name: string } | { readonly kind: 'index'; readonly index: number } | { readonly kind: 'all' };
type Node = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'path'; readonly steps: readonly Step[] } | { readonly kind: 'range'; readonly steps: readonly Step[]; readonly body: readonly Node[] };

/** A template parsed once; `print(value)` renders it. Throws UsageError naming what it does not support. */
export function compileJsonPath(template: string): (value: unknown) => string {
  const tokens = tokenize(template);
  let i = 0;
  const parseNodes = (inRange: boolean): Node[] => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const t = tokens[i++];
      if (t.kind === 'text') nodes.push(t);
      else if (t.expr === 'end') {
        if (!inRange) throw unsupported(template, '{end} without {range}');
        return nodes;
      } else if (t.expr.startsWith('range ')) {
        const steps = parsePath(t.expr.slice(6).trim(), template);
        nodes.push({ kind: 'range', steps, body: parseNodes(true) });
      } else if (/^"(?:[^"\\]|\\.)*"$/.test(t.expr)) nodes.push({ kind: 'text', text: unquote(t.expr) });
      else nodes.push({ kind: 'path', steps: parsePath(t.expr, template) });
    }
    if (inRange) throw unsupported(template, '{range} without {end}');
    return nodes;
  };
  const nodes = parseNodes(false);
  return (value) => render(nodes, value);
}

function render(nodes: readonly Node[], value: unknown): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'text') out += n.text;
    else if (n.kind === 'path') out += evaluate(n.steps, value).map(show).join(' ');
    else for (const item of evaluate(n.steps, value).flatMap((v) => (Array.isArray(v) ? v : [v]))) out += render(n.body, item);
  }
  return out;
}

function evaluate(steps: readonly Step[], value: unknown): unknown[] {
  let current: unknown[] = [value];
  for (const s of steps) {
    const next: unknown[] = [];
    for (const v of current) {
      if (s.kind === 'field' && typeof v === 'object' && v !== null && !Array.isArray(v) && s.name in v) next.push((v as Record<string, unknown>)[s.name]);
      else if (s.kind === 'index' && Array.isArray(v)) {
        const at = s.index < 0 ? v.length + s.index : s.index;
        if (at >= 0 && at < v.length) next.push(v[at]);
      } else if (s.kind === 'all' && Array.isArray(v)) next.push(...v);
      else if (s.kind === 'all' && typeof v === 'object' && v !== null) next.push(...Object.values(v));
    }
    current = next;
  }
  return current;
}

function show(v: unknown): string {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

type Token = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'expr'; readonly expr: string };

function tokenize(template: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open < 0) {
      tokens.push({ kind: 'text', text: template.slice(i) });
      break;
    }
    if (open > i) tokens.push({ kind: 'text', text: template.slice(i, open) });
    // A quoted literal may hold a '}': find the closing brace outside quotes.
    let j = open + 1;
    let quote: string | undefined;
    for (; j < template.length; j++) {
      const c = template[j];
      if (quote !== undefined) {
        if (c === '\\') j++;
        else if (c === quote) quote = undefined;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '}') break;
    }
    if (j >= template.length) throw unsupported(template, `an unclosed '{' at column ${open + 1}`);
    tokens.push({ kind: 'expr', expr: template.slice(open + 1, j).trim() });
    i = j + 1;
  }
  return tokens;
}

function parsePath(expr: string, template: string): Step[] {
  let rest = expr.startsWith('$') ? expr.slice(1) : expr;
  if (rest !== '' && !rest.startsWith('.') && !rest.startsWith('[')) throw unsupported(template, `'${expr}' (a path starts with '.')`);
  if (rest.includes('..')) throw unsupported(template, `'${expr}' (recursive descent '..')`);
  const steps: Step[] = [];
  while (rest !== '' && rest !== '.') {
    let m: RegExpExecArray | null;
    if ((m = /^\.([A-Za-z0-9_-]+)/.exec(rest)) !== null) steps.push({ kind: 'field', name: m[1] });
    else if ((m = /^\[\*\]|^\.\*/.exec(rest)) !== null) steps.push({ kind: 'all' });
    else if ((m = /^\[(-?\d+)\]/.exec(rest)) !== null) steps.push({ kind: 'index', index: Number(m[1]) });
    else if ((m = /^\['((?:[^'\\]|\\.)*)'\]|^\["((?:[^"\\]|\\.)*)"\]/.exec(rest)) !== null) steps.push({ kind: 'field', name: (m[1] ?? m[2]).replace(/\\(.)/g, '$1') });
    else if (rest.startsWith('[?')) throw unsupported(template, `'${expr}' (filters [?(...)])`);
    else if (/^\[-?\d*:/.test(rest)) throw unsupported(template, `'${expr}' (slices [a:b])`);
    else throw unsupported(template, `'${expr}' at '${rest}'`);
    rest = rest.slice(m[0].length);
  }
  return steps;
}

function unquote(literal: string): string {
  const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };
  return literal.slice(1, -1).replace(/\\(.)/g, (_, c: string) => escapes[c] ?? c);
}

function unsupported(template: string, what: string): UsageError {
  return new UsageError(
    `unsupported jsonpath expression in '${template}': ${what}; sluicectl supports {.a.b}, {.items[*].x}, {.items[0]}, {.a['key']}, {range ...}{end} and {"text"}`,
  );
}
