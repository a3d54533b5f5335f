// `sluicectl api-resources`: the kinds this sluicectl knows, with the names `get` takes
// for each (kubectl's columns). From the CLI's own table of kinds: no control plane needed,
// and it is the same table the control plane serves from.

import { UsageError, type Command } from '../command.ts';
import { KIND_NAMES } from '../../api/kind-names.ts';
import { formatTable } from '../print/table.ts';

export const apiResources: Command = {
  words: ['api-resources'],
  usage: 'sluicectl api-resources [--namespaced true|false]',
  summary: 'list the resource kinds: NAME, SHORTNAMES, APIVERSION, NAMESPACED, KIND',
  examples: ['sluicectl api-resources', 'sluicectl api-resources --namespaced false'],
  options: { namespaced: { type: 'string' } },
  required: [],
  positionals: 0,
  run({ flags, ctx }) {
    const only = flags.namespaced === undefined ? undefined : namespacedFlag(String(flags.namespaced));
    const rows = KIND_NAMES.filter((k) => only === undefined || (k.scope === 'Namespaced') === only)
      .map((k) => [k.plural, k.shortNames.join(','), k.group === '' ? k.version : `${k.group}/${k.version}`, String(k.scope === 'Namespaced'), k.kind])
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    ctx.stdout(formatTable(['name', 'shortnames', 'apiversion', 'namespaced', 'kind'], rows));
    return 0;
  },
};

function namespacedFlag(value: string): boolean {
  if (value === 'true' || value === 'false') return value === 'true';
  throw new UsageError(`--namespaced must be true or false; got '${value}'`);
}
