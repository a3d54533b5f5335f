// A pod's proof of identity: its projected service-account token, reviewed by the
// Kubernetes API (TokenReview, authentication.k8s.io/v1). The statuses below are shaped as
// the API server answers them for a projected token (user.extra carries the pod's name and
// uid) and for the tokens that must not get a certificate. The client side is
// @kubernetes/client-node against an HTTP server that checks the exact request it sends.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { KubeConfig } from '@kubernetes/client-node';
import { attestPod, clusterTokenReviewer, SLUICE_TOKEN_AUDIENCE, type TokenReviewStatus } from '../../../control-plane/ca/pod-attestation.ts';
import { csrFor, openStream, sharedPki, startService, TRUST_DOMAIN, type Service } from './fixture.ts';

// A JWT's shape; the API server, not this code, decides whether it is genuine.
const TOKEN = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJhdWQiOlsic2x1aWNlLWNwIl0sInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDpzaG9wOm9yZGVycyJ9.c2lnbmF0dXJl';

/** What kube-apiserver answers for a projected token of shop/orders in pod orders-7d9f-x2k4q. */
const BOUND: TokenReviewStatus = {
  authenticated: true,
  audiences: [SLUICE_TOKEN_AUDIENCE],
  user: {
    username: 'system:serviceaccount:shop:orders',
    // uid and groups are in the real answer too; only username and extra are read.
    extra: {
      'authentication.kubernetes.io/credential-id': ['JTI=7b0d3b5e-0b7c-4a7e-9d2a-3f0c6f3f9a11'],
      'authentication.kubernetes.io/node-name': ['node-a'],
      'authentication.kubernetes.io/node-uid': ['0c6b1f9e-4f0e-4c8b-a3b3-5a6c1d2e3f40'],
      'authentication.kubernetes.io/pod-name': ['orders-7d9f-x2k4q'],
      'authentication.kubernetes.io/pod-uid': ['5b3a1c2d-9e8f-4a7b-8c6d-1e2f3a4b5c6d'],
    },
  },
};

describe('a pod attested by its service-account token', () => {
  test('a projected token of a service account gets that service account and its pod, by the API server\'s word', async () => {
    const asked: unknown[] = [];
    const r = await attestPod(TOKEN, async (token, audiences) => (asked.push({ token, audiences }), BOUND));
    assert.deepEqual(r, { ok: true, value: { namespace: 'shop', serviceAccount: 'orders', pod: 'orders-7d9f-x2k4q', podUid: '5b3a1c2d-9e8f-4a7b-8c6d-1e2f3a4b5c6d' } });
    assert.deepEqual(asked, [{ token: TOKEN, audiences: ['sluice-cp'] }], 'the review asks for our audience only');
  });

  test('every token that must not get a certificate is refused with its own code and what to do', async () => {
    const cases: [string, TokenReviewStatus | Error, string][] = [
      ['not authenticated (expired, or signed by another cluster)', { authenticated: false, error: '[invalid bearer token, service account token has expired]' }, 'KUBERNETES_TOKEN_REJECTED'],
      ['for another audience (the default kube-apiserver one)', { ...BOUND, audiences: ['https://kubernetes.default.svc.cluster.local'] }, 'KUBERNETES_TOKEN_AUDIENCE'],
      ['a user, not a service account', { ...BOUND, user: { ...BOUND.user, username: 'kubernetes-admin' } }, 'KUBERNETES_TOKEN_NOT_SERVICE_ACCOUNT'],
      ['a legacy Secret token (no pod)', { ...BOUND, user: { username: 'system:serviceaccount:shop:orders', extra: {} } }, 'KUBERNETES_TOKEN_NOT_POD_BOUND'],
      ['the API unreachable', new Error('connect ECONNREFUSED 10.96.0.1:443'), 'TOKEN_REVIEW_FAILED'],
    ];
    for (const [what, answer, code] of cases) {
      const r = await attestPod(TOKEN, async () => {
        if (answer instanceof Error) throw answer;
        return answer;
      });
      assert.equal(r.ok, false, what);
      if (!r.ok) assert.equal(r.code, code, what);
    }
    let reviewed = false;
    const junk = await attestPod('not a jwt\n', async () => ((reviewed = true), BOUND));
    assert.equal(junk.ok ? '' : junk.code, 'KUBERNETES_TOKEN_MALFORMED');
    assert.equal(reviewed, false, 'what is not a JWT is never sent to the API server');
  });
});

describe('the TokenReview as @kubernetes/client-node sends it', () => {
  let server: http.Server;
  const requests: { method?: string; url?: string; auth?: string; type?: string; body: unknown }[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d)).on('end', () => {
        const parsed = JSON.parse(body) as { spec: { token: string; audiences: string[] } };
        requests.push({ method: req.method, url: req.url, auth: req.headers.authorization, type: req.headers['content-type'], body: parsed });
        // As kube-apiserver answers: the request echoed, with the status filled in.
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: parsed.spec, status: parsed.spec.token === TOKEN ? BOUND : { user: {}, error: 'invalid bearer token' } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('one POST to /apis/authentication.k8s.io/v1/tokenreviews with the control plane\'s own credentials, the pod\'s token and our audience', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'sluice-cp', token: 'cp-service-account-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'sluice-cp' }],
      currentContext: 'x',
    });
    const review = await clusterTokenReviewer(kc);
    const r = await attestPod(TOKEN, review);
    assert.equal(r.ok && r.value.serviceAccount, 'orders');
    const other = await attestPod(TOKEN.replace(/.$/, 'x'), review);
    assert.equal(other.ok ? '' : other.code, 'KUBERNETES_TOKEN_REJECTED');
    assert.equal(requests[0].method, 'POST');
    assert.equal(requests[0].url, '/apis/authentication.k8s.io/v1/tokenreviews');
    assert.equal(requests[0].auth, 'Bearer cp-service-account-token');
    assert.match(requests[0].type ?? '', /^application\/json/);
    assert.deepEqual(requests[0].body, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: TOKEN, audiences: ['sluice-cp'] } });
  });
});

describe('the certificate service takes a pod token', { timeout: 20_000 }, () => {
  let onK8s: Service;
  let onVms: Service;
  const { keys } = sharedPki();
  const POD_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/orders`;
  before(async () => {
    onK8s = await startService({ reviewTokens: async (token) => (token === TOKEN ? BOUND : { authenticated: false, error: 'invalid bearer token' }) });
    onVms = await startService();
  });
  after(async () => {
    await onK8s.close();
    await onVms.close();
  });

  test('a pod token gets the SVID of its service account, the pod named as its workload; a CSR for another identity is refused', async () => {
    const s = openStream(onK8s.address, onK8s.ca.bundle);
    try {
      const res = await s.send({ csr: csrFor(keys[0], POD_ID), kubernetes_token: TOKEN });
      assert.equal(res.spiffe_id, POD_ID);
      assert.deepEqual([res.namespace, res.workload], ['shop', 'orders-7d9f-x2k4q']);
      assert.ok(onK8s.logs.some((l) => l.msg === 'svid issued' && l.fields?.via === 'kubernetes-token pod shop/orders-7d9f-x2k4q'));
      // Renewals on the same stream stay that identity.
      assert.equal((await s.send({ csr: csrFor(keys[1], POD_ID) })).spiffe_id, POD_ID);
    } finally {
      s.close();
    }
    const other = openStream(onK8s.address, onK8s.ca.bundle);
    try {
      const r = await other.refused({ csr: csrFor(keys[0], `spiffe://${TRUST_DOMAIN}/ns/shop/sa/billing`), kubernetes_token: TOKEN });
      assert.deepEqual([r.code, r.sluiceCode], [grpc.status.PERMISSION_DENIED, 'IDENTITY_MISMATCH']);
    } finally {
      other.close();
    }
  });

  test('a rejected token is UNAUTHENTICATED with the reason; a control plane not on Kubernetes says so', async () => {
    const bad = openStream(onK8s.address, onK8s.ca.bundle);
    const vm = openStream(onVms.address, onVms.ca.bundle);
    try {
      const r = await bad.refused({ csr: csrFor(keys[0], POD_ID), kubernetes_token: TOKEN.replace(/.$/, 'x') });
      assert.deepEqual([r.code, r.sluiceCode], [grpc.status.UNAUTHENTICATED, 'KUBERNETES_TOKEN_REJECTED']);
      assert.match(r.details, /invalid bearer token/);
      const n = await vm.refused({ csr: csrFor(keys[0], POD_ID), kubernetes_token: TOKEN });
      assert.deepEqual([n.code, n.sluiceCode], [grpc.status.UNAUTHENTICATED, 'KUBERNETES_NOT_CONFIGURED']);
    } finally {
      bad.close();
      vm.close();
    }
  });
});
