#!/usr/bin/env node
// The sluicectl command. Plain JavaScript, so that Node's compile cache is on before the
// first TypeScript file is read: with it, later starts skip type stripping entirely
// (the stripper's start alone doubles a bare Node start). NODE_DISABLE_COMPILE_CACHE=1
// turns the cache off.

import module from 'node:module';

module.enableCompileCache?.();
await import('./main.ts');
