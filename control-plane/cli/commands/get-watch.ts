// `sluicectl get KIND -w`: the table as it is now, then a row for every change (a deleted
// resource prints its last row, as kubectl's does), with the columns as wide as the first
// table set them. Stops on SIGINT (ctx.interrupt), or when the server ends the watch.

import type { KindNames } from '../../api/kind-names.ts';
import type { Resource } from '../../api/resource.ts';
import type { ApiClient } from '../client.ts';
import type { CliContext } from '../context.ts';
import { namespaceFor } from '../kind-name.ts';
import { refLabel } from '../print/resource.ts';
import { headersOf, rowOf, type RowOptions } from '../print/rows.ts';
import { columnWidths, formatRow } from '../print/table.ts';
import type { WatchOptions } from './get.ts';

export async function watchRows(api: ApiClient, kind: KindNames<unknown>, namespace: string | undefined, w: WatchOptions, ctx: CliContext): Promise<number> {
  const ns = namespace === undefined ? undefined : namespaceFor(kind, namespace);
  const wanted = (r: Resource) => (w.name === undefined || r.metadata.name === w.name) && (w.selector === undefined || w.selector(r.metadata.labels));
  const signal = ctx.interrupt?.() ?? new AbortController().signal;
  const { items, resourceVersion } = await api.listAt(kind, ns);
  const now = ctx.clock();
  const o: RowOptions = { withNamespace: w.allNamespaces && kind.scope === 'Namespaced', withType: false, wide: w.output.format === 'wide', withStatus: true, now };
  const headers = headersOf(kind, [], o);
  const first = items.filter(wanted);
  const line = (r: Resource) => (w.output.format === 'name' ? `${refLabel(kind, r.metadata.name)}\n` : formatRow(rowOf(kind, r, true, { ...o, now: ctx.clock() }), widths));
  const widths = columnWidths(headers, first.map((r) => rowOf(kind, r, true, o)));
  if (w.output.format !== 'name') ctx.stdout(formatRow(headers.map((h) => h.toUpperCase()), widths));
  for (const r of first) ctx.stdout(line(r));
  await api.watch(kind, ns, resourceVersion, (e) => {
    if (wanted(e.object)) ctx.stdout(line(e.object));
  }, signal);
  return 0;
}
