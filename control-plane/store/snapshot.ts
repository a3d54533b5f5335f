// snapshot.json: every resource at one revision, as one framed record (journal.ts's
// `<crc32> <json>\n`, so damage is caught the same way). It replaces the old one only by
// rename, after the new file is on disk, so a crash leaves the old snapshot or the new
// one, never half of either; the leftover temp file is removed on open.

import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Resource, ResourceType } from '../api/resource.ts';
import { frame, unframe } from './journal.ts';

const FORMAT = 'sluice-store-snapshot/1';
export const SNAPSHOT_FILE = 'snapshot.json';
const TEMP_FILE = 'snapshot.json.tmp';

export type SnapshotEntry = { readonly resourceType: ResourceType; readonly object: Resource };
export type Snapshot = { readonly revision: number; readonly resources: readonly SnapshotEntry[] };

export async function readSnapshot(dir: string): Promise<Snapshot | undefined> {
  const file = join(dir, SNAPSHOT_FILE);
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const damaged = (why: string) =>
    new Error(`${file} is damaged: ${why}. Refusing to open the store without it: restore the directory from a backup.`);
  if (buf.length === 0 || buf[buf.length - 1] !== 0x0a) throw damaged('it does not end with a whole record');
  const rec = unframe(buf.subarray(0, buf.length - 1));
  if (!rec.ok) throw damaged(rec.reason);
  const snap = rec.value as { format?: unknown; revision?: unknown; resources?: unknown };
  if (snap?.format !== FORMAT) throw damaged(`its format is ${JSON.stringify(snap?.format)}, this version reads ${FORMAT}`);
  if (!Number.isSafeInteger(snap.revision) || (snap.revision as number) < 0) throw damaged('it has no valid revision');
  if (!Array.isArray(snap.resources)) throw damaged('it has no resource list');
  for (const e of snap.resources as Partial<SnapshotEntry>[]) {
    if (typeof e?.resourceType !== 'string' || typeof e.object?.metadata?.name !== 'string') throw damaged('an entry has no resourceType or metadata.name');
  }
  return { revision: snap.revision as number, resources: snap.resources as SnapshotEntry[] };
}

/** Durable when it resolves: the file and its directory entry are both synced. */
export async function writeSnapshot(dir: string, snapshot: Snapshot): Promise<void> {
  const temp = join(dir, TEMP_FILE);
  const fh = await open(temp, 'w', 0o600);
  try {
    await fh.writeFile(frame({ format: FORMAT, revision: snapshot.revision, resources: snapshot.resources }));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, join(dir, SNAPSHOT_FILE));
  await syncDir(dir);
}

/** A crash between writing the temp file and renaming it leaves it behind; it holds nothing the journal lacks. */
export async function removeTempSnapshot(dir: string): Promise<void> {
  await rm(join(dir, TEMP_FILE), { force: true });
}

/** Makes a created, renamed or removed directory entry survive a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
