#!/usr/bin/env node
// The sluicectl command. Plain JavaScript, so that Node's compile cache is on before the
// first TypeScript file is read: with it, later starts skip type stripping entirely
// (the stripper's start alone doubles a bare Node start). NODE_DISABLE_COMPILE_CACHE=1
// turns the cache off.

import module from 'node:module';

// An older Node (the machine's own, run as `node sluicectl.js`) cannot read the TypeScript
// below: say so, rather than let it fail on the file extension.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`sluicectl: needs Node.js 24 (this is ${process.version}); in a checkout, run \`npx sluicectl\` or \`node_modules/.bin/node control-plane/cli/sluicectl.js\` (npm ci installs Node 24 there)\n`);
  process.exit(1);
}
module.enableCompileCache?.();
await import('./main.ts');
