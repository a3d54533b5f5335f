// How a server's refusal of one document becomes that document's problems, and what is
// instead a failure of the whole command.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { documentProblems } from '../../../control-plane/cli/apply-plan.ts';
import { ApiError } from '../../../control-plane/cli/client.ts';
import { formatProblems } from '../../../control-plane/cli/manifests.ts';

const manifest = { where: 'mesh.yaml:doc[2]', prefix: 'items[1].', doc: {}, seq: 2 };

test('an INVALID Status gives one problem per cause, at the document, its paths under the List item', () => {
  const err = new ApiError('INVALID', 422, 'HTTPRoute "web" is invalid', [
    { path: 'spec.rules[0].backendRefs[0].port', message: 'is required' },
    { path: 'spec.hostnames[1]', message: 'must not be empty' },
  ]);
  assert.equal(
    formatProblems(documentProblems(manifest, err), '; nothing was applied'),
    'mesh.yaml:doc[2]: items[1].spec.rules[0].backendRefs[0].port: is required\n' +
      'mesh.yaml:doc[2]: items[1].spec.hostnames[1]: must not be empty\n' +
      'error: 2 problems found; nothing was applied\n',
  );
});

test('a refusal without causes is one problem with the message', () => {
  assert.deepEqual(documentProblems(manifest, new ApiError('BAD_REQUEST', 400, 'the body is a Service but the path is for Workload')), [
    { where: 'mesh.yaml:doc[2]', message: 'the body is a Service but the path is for Workload', seq: 2 },
  ]);
});

test('an unreachable or unauthorized server is not a document problem: it fails the command', () => {
  assert.throws(() => documentProblems(manifest, new ApiError('UNREACHABLE', 0, 'cannot reach')), /cannot reach/);
  assert.throws(() => documentProblems(manifest, new ApiError('UNAUTHORIZED', 401, 'no token')), /no token/);
});
