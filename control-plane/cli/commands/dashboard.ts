// `sluicectl dashboard`: the address of the control plane's web dashboard (served on its API
// port, control-plane/dashboard/), with the admin token in the link's fragment, which the
// browser keeps for the tab and never sends in a request (istioctl dashboard, linkerd viz
// dashboard). Checked first: a dead link is worse than an error.

import type { Command } from '../command.ts';
import { CONNECTION_OPTIONS, loadConnection, resolveServerConfig, withClient } from '../server-config.ts';

export const dashboard: Command = {
  words: ['dashboard'],
  usage: 'sluicectl dashboard [--no-token]',
  summary: "print the link to the control plane's web dashboard (the mesh as a graph with live numbers, proxies per zone, failing resources), the token in its fragment",
  examples: ['sluicectl dashboard', 'sluicectl dashboard --no-token'],
  options: { ...CONNECTION_OPTIONS, 'no-token': { type: 'boolean' } },
  required: [],
  positionals: 0,
  async run({ flags, ctx }) {
    const connection = loadConnection(resolveServerConfig(flags, ctx.env, ctx.home));
    // The API answers with this token: the link works.
    await withClient(flags, ctx, (api) => api.stats('1m'));
    const withToken = flags['no-token'] !== true && connection.token !== undefined;
    ctx.stdout(`${connection.server}/dashboard/${withToken ? `#token=${encodeURIComponent(connection.token!)}` : ''}\n`);
    if (withToken) ctx.stderr('The link carries the admin token: open it in your own browser, do not share it.\n');
    return 0;
  },
};
