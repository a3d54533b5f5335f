// A watch as Kubernetes streams it: one JSON event per line on a response that stays open.
// From resourceVersion N: every event after N, then live ones; without one (or 0): the
// current resources as ADDED, then live ones. History the store no longer keeps ends the
// stream with an ERROR event holding a 410 Status: the client lists again.

import type { ServerResponse } from 'node:http';
import { resourceTypeOf } from '../api/kind.ts';
import { isStoreError } from '../store/errors.ts';
import type { ResourceStore, Watch, WatchEvent } from '../store/store.ts';
import type { Target } from './paths.ts';
import { status } from './status.ts';

/** A client this far behind is cut off rather than let the server's memory grow without bound. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export async function streamWatch(store: ResourceStore, target: Target, resourceVersion: string | null, res: ServerResponse): Promise<void> {
  const from = resourceVersion === null || resourceVersion === '' ? 0 : Number(resourceVersion);
  if (!Number.isSafeInteger(from) || from < 0) {
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(status('BAD_REQUEST', `resourceVersion must be a revision number; got '${resourceVersion}'`)));
    return;
  }
  const type = resourceTypeOf(target.kind);
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.flushHeaders();
  let watch: Watch | undefined;
  let closed = false;
  const stop = () => {
    if (closed) return;
    closed = true;
    watch?.close();
    res.end();
  };
  res.on('close', stop);
  const send = (line: object) => {
    if (closed) return;
    res.write(`${JSON.stringify(line)}\n`);
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.write(`${JSON.stringify({ type: 'ERROR', object: status('EXPIRED', 'the watch fell too far behind and was closed; list and watch again') })}\n`);
      stop();
    }
  };
  const deliver = (e: WatchEvent) => send({ type: e.type, object: e.object });
  try {
    let since = from;
    if (from === 0) {
      const { items, revision } = await store.list(type, { namespace: target.namespace });
      for (const object of items) send({ type: 'ADDED', object });
      since = revision;
    }
    if (closed) return;
    watch = await store.watch({ resourceType: type, namespace: target.namespace, fromRevision: since }, deliver);
    if (closed) watch.close();
  } catch (err) {
    if (isStoreError(err, 'EXPIRED')) send({ type: 'ERROR', object: status('EXPIRED', err.message) });
    else send({ type: 'ERROR', object: status('INTERNAL', `the watch failed: ${(err as Error).message}`) });
    stop();
  }
}
