// `sluicectl version`: this CLI's version, then the control plane's. The client's line
// comes first and stays when the server cannot be asked, since that is often why one runs it.

import pkg from '../../../package.json' with { type: 'json' };
import type { Command } from '../command.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

export const CLIENT_VERSION: string = pkg.version;

export const version: Command = {
  words: ['version'],
  usage: 'sluicectl version',
  summary: "print the client's version and the control plane's",
  examples: ['sluicectl version', 'sluicectl version --server https://cp.mesh.example:15014 --ca-file ca/root.pem'],
  options: { ...CONNECTION_OPTIONS },
  required: [],
  positionals: 0,
  async run({ flags, ctx }) {
    ctx.stdout(`Client Version: ${CLIENT_VERSION}\n`);
    const server = await withClient(flags, ctx, (api) => api.version());
    ctx.stdout(`Server Version: ${server.version}\n`);
    return 0;
  },
};
