// The store's promise to an operator, end to end: sluice-cp is SIGKILLed in the middle of
// a stream of applies, again and again; after each restart every apply a client saw
// succeed is there, byte for byte, the store loads cleanly, and a watch resumes from a
// revision seen before the kill.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';

const WORKLOADS = '/apis/mesh.sluice.dev/v1alpha1/namespaces/crash/workloads';

function workload(i: number, round: number) {
  return {
    apiVersion: 'mesh.sluice.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: `w-${round}-${i}`, namespace: 'crash', labels: { app: 'crash', round: String(round) } },
    spec: { address: `10.0.${round}.${i % 250}`, ports: { http: 8000 + (i % 1000) }, zone: `z-${i % 3}` },
  };
}

async function call(cp: ControlPlaneProcess, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(cp.url + path, {
    method,
    headers: { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

describe('sluice-cp under SIGKILL', () => {
  test('every acknowledged apply survives five kills mid-stream, and the store reloads cleanly each time', async () => {
    let cp = await startControlPlane();
    const acked = new Map<string, { spec: unknown; resourceVersion: string }>();
    try {
      for (let round = 1; round <= 5; round++) {
        let i = 0;
        let stop = false;
        const unexpected: Error[] = [];
        // Four clients apply as fast as they can until the process dies under them.
        const clients = Array.from({ length: 4 }, async () => {
          while (!stop && i < 5000) {
            const w = workload(i++, round);
            try {
              const r = await call(cp, 'POST', WORKLOADS, w);
              if (r.status === 201) acked.set(w.metadata.name, { spec: w.spec, resourceVersion: r.json.metadata.resourceVersion });
              else throw new Error(`POST answered ${r.status}: ${JSON.stringify(r.json)}`);
            } catch (err) {
              if (!stop) unexpected.push(err as Error);
              return;
            }
          }
        });
        const killed = new Promise<void>((resolve) =>
          setTimeout(() => {
            stop = true;
            cp.child.kill('SIGKILL');
            resolve();
          }, 150 + Math.floor(Math.random() * 350)),
        );
        await killed;
        await Promise.all(clients);
        assert.deepEqual(unexpected.map((e) => e.message), [], `round ${round}: a client failed before the kill`);
        await cp.exited;
        const before = acked.size;
        cp = await startControlPlane({ dataDir: cp.dataDir });
        const list = await call(cp, 'GET', WORKLOADS);
        assert.equal(list.status, 200);
        const live = new Map<string, any>(list.json.items.map((w: any) => [w.metadata.name, w]));
        for (const [name, want] of acked) {
          const got = live.get(name);
          assert.ok(got !== undefined, `round ${round}: ${name} was acknowledged and is gone`);
          assert.deepEqual(got.spec, want.spec, `round ${round}: ${name} changed`);
          assert.equal(got.metadata.resourceVersion, want.resourceVersion, `round ${round}: ${name} has another revision`);
        }
        // What was in flight when the process died may or may not be there, but never half.
        for (const w of list.json.items) assert.equal(w.spec.ports.http, 8000 + (Number(w.metadata.name.split('-')[2]) % 1000));
        assert.ok(before > 0, `round ${round}: no apply was acknowledged before the kill`);
        const maxAcked = Math.max(...[...acked.values()].map((a) => Number(a.resourceVersion)));
        assert.ok(Number(list.json.metadata.resourceVersion) >= maxAcked, 'the revision went backwards');
      }
    } finally {
      await cp.stop('SIGKILL');
    }
  });

  test('a watch resumes after a restart from a revision seen before the kill', async () => {
    let cp = await startControlPlane();
    try {
      const first = await call(cp, 'POST', WORKLOADS, workload(1, 9));
      assert.equal(first.status, 201);
      const seen = first.json.metadata.resourceVersion;
      const second = await call(cp, 'POST', WORKLOADS, workload(2, 9));
      assert.equal(second.status, 201);
      cp.child.kill('SIGKILL');
      await cp.exited;
      cp = await startControlPlane({ dataDir: cp.dataDir });
      const third = await call(cp, 'PUT', `${WORKLOADS}/w-9-1`, { ...workload(1, 9), spec: { address: '10.9.9.9' } });
      assert.equal(third.status, 200, JSON.stringify(third.json));
      const controller = new AbortController();
      const res = await fetch(`${cp.url}${WORKLOADS}?watch=true&resourceVersion=${seen}`, { headers: { authorization: `Bearer ${cp.token}` }, signal: controller.signal });
      assert.equal(res.status, 200);
      const events: { type: string; object: any }[] = [];
      let text = '';
      for await (const chunk of res.body!) {
        text += Buffer.from(chunk).toString('utf8');
        const lines = text.split('\n');
        text = lines.pop()!;
        for (const line of lines) events.push(JSON.parse(line));
        if (events.length >= 2) break;
      }
      controller.abort();
      assert.deepEqual(
        events.map((e) => [e.type, e.object.metadata.name]),
        [
          ['ADDED', 'w-9-2'],
          ['MODIFIED', 'w-9-1'],
        ],
      );
      assert.equal(events[1].object.spec.address, '10.9.9.9');
      assert.equal(events[0].object.metadata.resourceVersion, second.json.metadata.resourceVersion);
    } finally {
      await cp.stop('SIGKILL');
    }
  });
});
