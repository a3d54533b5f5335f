// sluice-cp whose stderr has lost its reader for good (a dead log shipper, `sluice-cp 2>&1 |
// head`): its log lines are lost, nothing else. Writes that log ("created", "deleted") are
// still answered and kept, and SIGTERM still closes the store and exits 0, in time. (A
// failed write to stderr used to be an unhandled 'error' event: the process died at its
// next log line, in the middle of a request or of its stop, with exit status 1.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';

const WORKLOADS = '/apis/mesh.sluice.dev/v1alpha1/namespaces/logs/workloads';
/** SIGTERM closes the API, the xDS servers and the store: moments, a few seconds on a loaded machine. */
const EXIT_WITHIN_MS = 5000;

async function call(cp: ControlPlaneProcess, method: string, path: string, body?: unknown): Promise<number> {
  const res = await fetch(cp.url + path, {
    method,
    headers: { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.status;
}

const workload = (name: string) => ({
  apiVersion: 'mesh.sluice.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name, namespace: 'logs' },
  spec: { address: '10.0.0.1', ports: { http: 8080 } },
});

test('with stderr closed, sluice-cp keeps answering and storing writes, and SIGTERM exits 0 in time', async () => {
  const cp = await startControlPlane();
  try {
    assert.equal(await call(cp, 'POST', WORKLOADS, workload('before')), 201);
    cp.child.stderr!.destroy();
    // Each of these logs a line that can no longer be written.
    for (let i = 0; i < 3; i++) assert.equal(await call(cp, 'POST', WORKLOADS, workload(`w-${i}`)), 201, `create w-${i}`);
    assert.equal(await call(cp, 'DELETE', `${WORKLOADS}/w-0`), 200);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(cp.child.exitCode, null, 'sluice-cp died with its log');
    assert.equal(await call(cp, 'GET', `${WORKLOADS}/w-2`), 200);
    assert.equal(await call(cp, 'GET', `${WORKLOADS}/w-0`), 404);

    cp.child.kill('SIGTERM');
    let timer: NodeJS.Timeout;
    const code = await Promise.race([cp.exited, new Promise<'running'>((resolve) => (timer = setTimeout(() => resolve('running'), EXIT_WITHIN_MS)))]).finally(() => clearTimeout(timer));
    assert.equal(code, 0, `exit status after SIGTERM (or still running after ${EXIT_WITHIN_MS} ms)`);
  } finally {
    if (cp.child.exitCode === null && cp.child.signalCode === null) cp.child.kill('SIGKILL');
    await cp.exited;
  }
  // What was acknowledged is in the store: a new control plane on the same data reads it.
  const again = await startControlPlane({ dataDir: cp.dataDir });
  try {
    assert.equal(await call(again, 'GET', `${WORKLOADS}/w-1`), 200);
    assert.equal(await call(again, 'GET', `${WORKLOADS}/w-0`), 404);
  } finally {
    await again.stop();
  }
});
