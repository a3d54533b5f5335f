#!/usr/bin/env node
// `npm run gen:crds`: writes deploy/crds/ (the CRDs and their kustomization.yaml) from the
// kinds' schemas and removes CRDs of kinds that are gone. test/control-plane/api/crd.test.ts fails when the files are stale.

import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from './crd.ts';

const dir = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));
mkdirSync(dir, { recursive: true });
const files = generatedFiles();
for (const old of readdirSync(dir)) if (old.endsWith('.yaml') && !files.has(old)) rmSync(join(dir, old));
for (const [name, text] of files) writeFileSync(join(dir, name), text);
process.stdout.write(`wrote ${files.size} files to deploy/crds/: ${[...files.keys()].join(', ')}\n`);
