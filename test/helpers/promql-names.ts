// What a PromQL expression reads, as a dashboard checker needs it: each metric selector with
// the labels its matchers name, and each `by (...)` / `without (...)` / `on (...)` list with
// the metrics of the expression it groups. Not a PromQL parser: enough for the dashboards in
// deploy/grafana/, and it refuses (throws on) what it does not read, so nothing slips past.

/** PromQL functions and aggregations (Prometheus 2.42): a name followed by '(' must be one of these. */
export const PROMQL_FUNCTIONS = new Set([
  'abs', 'absent', 'absent_over_time', 'avg', 'avg_over_time', 'bottomk', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'count',
  'count_over_time', 'count_values', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'delta', 'deriv', 'exp', 'floor', 'group',
  'histogram_quantile', 'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join', 'label_replace', 'last_over_time', 'ln', 'log10', 'log2',
  'max', 'max_over_time', 'min', 'min_over_time', 'minute', 'month', 'predict_linear', 'present_over_time', 'quantile', 'quantile_over_time', 'rate',
  'resets', 'round', 'scalar', 'sgn', 'sort', 'sort_desc', 'sqrt', 'stddev', 'stddev_over_time', 'stdvar', 'stdvar_over_time', 'sum', 'sum_over_time',
  'time', 'timestamp', 'topk', 'vector', 'year',
]);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'group_left', 'group_right']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring']);

export type Selector = { readonly metric: string; readonly labels: readonly string[] };
export type Grouping = { readonly labels: readonly string[]; readonly metrics: readonly string[] };
export type ExpressionReads = { readonly selectors: readonly Selector[]; readonly groupings: readonly Grouping[] };

type Token = { readonly kind: 'string' | 'braces' | 'range' | 'ident' | 'open' | 'close' | 'comma' | 'other'; readonly text: string };

const TOKEN = /"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|\{(?:"(?:\\.|[^"\\])*"|[^}"])*\}|\[[^\]]*\]|[a-zA-Z_:][a-zA-Z0-9_:]*|\d+(?:\.\d+)?(?:e[+-]?\d+)?|\(|\)|,|\s+|[-+*/%^=!<>~]+/g;

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  let at = 0;
  for (const m of expr.matchAll(TOKEN)) {
    if (m.index !== at) throw new Error(`cannot read ${JSON.stringify(expr.slice(at, m.index))} at ${at} of ${expr}`);
    at = m.index + m[0].length;
    const t = m[0];
    if (/^\s+$/.test(t)) continue;
    const kind = t[0] === '"' || t[0] === "'" ? 'string' : t[0] === '{' ? 'braces' : t[0] === '[' ? 'range' : t === '(' ? 'open' : t === ')' ? 'close' : t === ',' ? 'comma' : /^[a-zA-Z_:]/.test(t) ? 'ident' : 'other';
    out.push({ kind, text: t });
  }
  if (at !== expr.length) throw new Error(`cannot read ${JSON.stringify(expr.slice(at))} in ${expr}`);
  return out;
}

/** The label names a `{...}` block matches on. */
function matcherLabels(braces: string): string[] {
  const inner = braces.slice(1, -1);
  const labels: string[] = [];
  for (const m of inner.matchAll(/\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*")\s*(,|$)/g)) labels.push(m[1]);
  const rebuilt = [...inner.matchAll(/\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*")\s*(,|$)/g)].map((m) => m[0]).join('');
  if (rebuilt.trim() !== inner.trim()) throw new Error(`cannot read the matchers ${braces}`);
  return labels;
}

/** The index of the ')' matching the '(' at `open`. */
function closing(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i].kind === 'open') depth++;
    if (tokens[i].kind === 'close' && --depth === 0) return i;
  }
  throw new Error('unbalanced parentheses');
}

function metricsIn(tokens: Token[]): string[] {
  return readTokens(tokens).selectors.map((s) => s.metric);
}

function readTokens(tokens: Token[]): ExpressionReads {
  const selectors: Selector[] = [];
  const groupings: Grouping[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === 'braces') throw new Error(`matchers ${t.text} without a metric name`);
    if (t.kind !== 'ident') continue;
    const next = tokens[i + 1];
    if (GROUPING.has(t.text)) {
      if (next?.kind !== 'open') throw new Error(`${t.text} without a label list`);
      const end = closing(tokens, i + 1);
      const labels = tokens.slice(i + 2, end).filter((x) => x.kind !== 'comma').map((x) => {
        if (x.kind !== 'ident') throw new Error(`${t.text} (...) holds ${x.text}, not a label name`);
        return x.text;
      });
      // `agg by (labels) (expr)`: the argument follows; on/ignoring apply to the whole expression.
      const argOpen = end + 1;
      const scope = (t.text === 'by' || t.text === 'without') && tokens[argOpen]?.kind === 'open' ? tokens.slice(argOpen, closing(tokens, argOpen) + 1) : tokens;
      if ((t.text === 'by' || t.text === 'without') && scope === tokens) throw new Error(`write "${t.text} (...)" before the aggregation's argument: sum ${t.text} (labels) (expr)`);
      groupings.push({ labels, metrics: metricsIn(scope) });
      i = end;
      continue;
    }
    // `sum by (...) (...)`: an aggregation whose grouping comes first.
    if (next?.kind === 'open' || (next?.kind === 'ident' && (next.text === 'by' || next.text === 'without'))) {
      if (!PROMQL_FUNCTIONS.has(t.text)) throw new Error(`${t.text}(...) is not a PromQL function`);
      continue;
    }
    if (KEYWORDS.has(t.text)) continue;
    if (next?.kind === 'braces') {
      selectors.push({ metric: t.text, labels: matcherLabels(next.text) });
      i++;
    } else {
      selectors.push({ metric: t.text, labels: [] });
    }
  }
  return { selectors, groupings };
}

/** Every selector and grouping in `expr`, after Grafana's variables are replaced by stand-ins. */
export function readExpression(expr: string): ExpressionReads {
  const plain = expr.replace(/\$__(rate_)?interval|\$__range/g, '1m');
  if (/\$(?!\{?\w)/.test(plain)) throw new Error(`a stray $ in ${expr}`);
  return readTokens(tokenize(plain));
}

/** `label_values(selector, label)` or `label_values(label)` (Grafana's Prometheus variable query): what it reads. */
export function readLabelValues(query: string): ExpressionReads {
  const m = /^label_values\((?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(query.trim());
  if (m === null) throw new Error(`not a label_values query: ${query}`);
  if (m[1] === undefined) return { selectors: [], groupings: [] };
  const inner = readExpression(m[1]);
  return { selectors: inner.selectors, groupings: [...inner.groupings, { labels: [m[2]], metrics: inner.selectors.map((s) => s.metric) }] };
}

/** Grafana template variables an expression uses ($name or ${name}), builtins ($__...) left out. */
export function variablesIn(text: string): string[] {
  return [...text.matchAll(/\$\{?([a-zA-Z_][a-zA-Z0-9_]*)/g)].map((m) => m[1]).filter((v) => !v.startsWith('__'));
}
