// How the store's files become its state on open: the snapshot, then the journal
// replayed over it. Records at or below the snapshot's revision were already in it (a
// crash between writing a snapshot and emptying the journal leaves them); any other
// break in the revisions means writes were lost, and the open is refused.

import { join } from 'node:path';
import type { Resource, ResourceType } from '../api/resource.ts';
import { corrupt, scanJournal } from './journal.ts';
import { readSnapshot } from './snapshot.ts';
import type { WatchEvent } from './store.ts';
import { deepFreeze, keyOf } from './write-plan.ts';

export const JOURNAL_FILE = 'journal.log';

/** Type -> keyOf(namespace, name) -> the resource, frozen. */
export type State = Map<ResourceType, Map<string, Resource>>;

/** The state, its revision, and the journal's events after the snapshot: the watch history. */
export async function load(dir: string) {
  const state: State = new Map();
  const snapshot = await readSnapshot(dir);
  for (const { resourceType, object } of snapshot?.resources ?? []) {
    put(state, resourceType, deepFreeze(object));
  }
  const base = snapshot?.revision ?? 0;
  let revision = base;
  let journaled = 0;
  let previous: number | undefined;
  const history: WatchEvent[] = [];
  const file = join(dir, JOURNAL_FILE);
  const scan = await scanJournal(file);
  scan.commits.forEach((commit, index) => {
    for (const event of commit.events) {
      journaled++;
      if (previous !== undefined && event.revision !== previous + 1) throw corrupt(file, commit.offset, index, `revision ${event.revision} follows ${previous}`);
      previous = event.revision;
      if (event.revision <= base) continue;
      if (event.revision !== revision + 1) throw corrupt(file, commit.offset, index, `the journal resumes at revision ${event.revision} but the snapshot ends at ${base}: the writes in between are lost`);
      const frozen = deepFreeze(event);
      apply(state, frozen);
      history.push(frozen);
      revision = event.revision;
    }
  });
  return { state, revision, journaled, history, validLength: scan.validLength, torn: scan.torn };
}

function put(state: State, type: ResourceType, object: Resource): void {
  let byKey = state.get(type);
  if (byKey === undefined) state.set(type, (byKey = new Map()));
  byKey.set(keyOf(object.metadata.namespace, object.metadata.name), object);
}

export function apply(state: State, event: WatchEvent): void {
  if (event.type !== 'DELETED') return put(state, event.resourceType, event.object);
  const byKey = state.get(event.resourceType);
  byKey?.delete(keyOf(event.object.metadata.namespace, event.object.metadata.name));
  if (byKey?.size === 0) state.delete(event.resourceType);
}
