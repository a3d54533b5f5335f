// `sluicectl get KIND[,KIND...]|all [NAME]`: a table (NAME, the kind's own columns, STATUS,
// AGE; `-o wide` adds LABELS and MESSAGE), or the resources as YAML, JSON, names or a
// JSONPath template, as kubectl prints them. `-l` filters by labels, here rather than on
// the server (its API takes no labelSelector); `-w` keeps printing rows as they change.

import { KIND_NAMES, type KindNames } from '../../api/kind-names.ts';
import type { Resource } from '../../api/resource.ts';
import type { ApiClient } from '../client.ts';
import { UsageError, type Command, type FlagValue } from '../command.ts';
import type { CliContext } from '../context.ts';
import { namespaceFor, resolveKind } from '../kind-name.ts';
import { parseLabelSelector, type LabelSelector } from '../label-selector.ts';
import { compileJsonPath } from '../print/jsonpath.ts';
import { listOf, refLabel, toJson, toYaml } from '../print/resource.ts';
import { headersOf, rowOf, type RowOptions } from '../print/rows.ts';
import { hasStatus } from '../print/status.ts';
import { formatTable } from '../print/table.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';
import { watchRows } from './get-watch.ts';
import { getZones } from './zone.ts';

const FORMATS = ['table', 'wide', 'yaml', 'json', 'name', 'jsonpath=TEMPLATE'] as const;

export type Output = { readonly format: 'table' | 'wide' | 'yaml' | 'json' | 'name' } | { readonly format: 'jsonpath'; readonly print: (value: unknown) => string };

export const get: Command = {
  words: ['get'],
  usage: 'sluicectl get KIND[,KIND...]|all|zones [NAME] [-n NS | -A] [-l SELECTOR] [-o table|wide|yaml|json|name|jsonpath=T] [-w]',
  summary: 'list resources of one or more kinds (or show one) as a table, YAML, JSON or a JSONPath template; -w watches',
  examples: [
    'sluicectl get meshes',
    'sluicectl get all -n shop',
    'sluicectl get svc,httproute -A -o wide',
    'sluicectl get workloads -l app=web,tier!=db',
    "sluicectl get svc -o jsonpath='{range .items[*]}{.metadata.name}{\"\\n\"}{end}'",
    'sluicectl get httproutes -w',
    'sluicectl get zones',
  ],
  options: {
    namespace: { type: 'string', short: 'n' },
    'all-namespaces': { type: 'boolean', short: 'A' },
    output: { type: 'string', short: 'o' },
    selector: { type: 'string', short: 'l' },
    watch: { type: 'boolean', short: 'w' },
    ...CONNECTION_OPTIONS,
  },
  required: [],
  positionals: { min: 1, max: 2 },
  async run({ flags, positionals, ctx }) {
    // Zones are no kind of the API: what the control plane knows of its zones (zone.ts).
    if (positionals[0] === 'zones' || positionals[0] === 'zone') return getZones(flags, positionals.slice(1), ctx);
    const kinds = kindsOf(positionals[0]);
    const name = positionals[1];
    const output = outputOf(flags.output);
    const selector = typeof flags.selector === 'string' ? parseLabelSelector(flags.selector) : undefined;
    const allNamespaces = flags['all-namespaces'] === true;
    if (name !== undefined && kinds.length > 1) throw new UsageError(`a NAME needs one kind; '${positionals[0]}' names ${kinds.length}`);
    if (name !== undefined && selector !== undefined) throw new UsageError('give a NAME or -l, not both');
    if (allNamespaces && name !== undefined && kinds.some((k) => k.scope === 'Namespaced')) throw new UsageError('a resource cannot be fetched by name across all namespaces (-A): give -n NS instead');
    if (allNamespaces && flags.namespace !== undefined) throw new UsageError('-n and -A exclude each other');
    const namespace = allNamespaces ? undefined : typeof flags.namespace === 'string' ? flags.namespace : 'default';
    if (flags.watch === true) {
      if (kinds.length > 1) throw new UsageError(`-w watches one kind; '${positionals[0]}' names ${kinds.length}`);
      if (output.format !== 'table' && output.format !== 'wide' && output.format !== 'name') throw new UsageError('-w prints rows: use -o table, wide or name');
      return withClient(flags, ctx, (api) => watchRows(api, kinds[0], namespace, { name, selector, output, allNamespaces }, ctx));
    }
    return withClient(flags, ctx, async (api) => {
      const found: Found[] = [];
      for (const kind of kinds) {
        const ns = namespace === undefined ? undefined : namespaceFor(kind, namespace);
        const items = name !== undefined ? [await api.get(kind, ns, name)] : await api.list(kind, ns);
        found.push({ kind, items: selector === undefined ? items : items.filter((r) => selector(r.metadata.labels)) });
      }
      print(found, output, { one: name !== undefined, allNamespaces, namespace, multi: kinds.length > 1 }, ctx);
      return 0;
    });
  },
};

type Found = { readonly kind: KindNames<unknown>; readonly items: readonly Resource[] };

function print(found: readonly Found[], output: Output, o: { one: boolean; allNamespaces: boolean; namespace: string | undefined; multi: boolean }, ctx: CliContext): void {
  const all = found.flatMap((f) => f.items);
  const value = o.one ? all[0] : listOf(all);
  if (output.format === 'yaml') return ctx.stdout(toYaml(value));
  if (output.format === 'json') return ctx.stdout(toJson(value));
  if (output.format === 'jsonpath') return ctx.stdout(output.print(value));
  if (output.format === 'name') return ctx.stdout(found.flatMap((f) => f.items.map((r) => `${refLabel(f.kind, r.metadata.name)}\n`)).join(''));
  if (all.length === 0) return ctx.stderr(o.namespace === undefined ? 'No resources found.\n' : `No resources found in ${o.namespace} namespace.\n`);
  // kubectl's `get all`: one table per kind that has resources, a blank line between.
  const tables = found
    .filter((f) => f.items.length > 0)
    .map((f) => {
      const rows: RowOptions = { withNamespace: o.allNamespaces && f.kind.scope === 'Namespaced', withType: o.multi, wide: output.format === 'wide', now: ctx.clock() };
      const status = hasStatus(f.items);
      return formatTable(headersOf(f.kind, f.items, rows), f.items.map((r) => rowOf(f.kind, r, status, rows)));
    });
  ctx.stdout(tables.join('\n'));
}

/** `all`, one kind, or `svc,httproute`: each resolved as kubectl resolves a name. */
function kindsOf(arg: string): KindNames<unknown>[] {
  if (arg === 'all') return [...KIND_NAMES];
  const names = arg.split(',');
  if (names.some((n) => n === '')) throw new UsageError(`'${arg}' has an empty kind: write KIND,KIND with no spaces or trailing comma`);
  const kinds = names.map(resolveKind);
  return kinds.filter((k, i) => kinds.indexOf(k) === i);
}

function outputOf(flag: FlagValue): Output {
  if (flag === undefined) return { format: 'table' };
  const text = String(flag);
  if (text.startsWith('jsonpath=')) return { format: 'jsonpath', print: compileJsonPath(text.slice('jsonpath='.length)) };
  if (text === 'table' || text === 'wide' || text === 'yaml' || text === 'json' || text === 'name') return { format: text };
  throw new UsageError(`unknown output format '${text}': use ${FORMATS.join(', ')}`);
}

export type WatchOptions = { readonly name?: string; readonly selector?: LabelSelector; readonly output: Output; readonly allNamespaces: boolean };
