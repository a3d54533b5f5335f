// deploy/kubernetes/: every overlay rendered by `kubectl kustomize` (as `kubectl apply -k`
// would) and every object checked against the Kubernetes OpenAPI schemas (kubernetes-models;
// our CRDs as apiextensions.k8s.io/v1 CustomResourceDefinition), then what the objects
// must say to each other: the probes reach the health endpoint of a real sluice-cp started
// with the Deployment's own arguments, the Service's ports are the container's, the PDB
// lets a node drain, the webhook never selects kube-system or sluice-system.
// No API server runs here: nothing is applied to a cluster (README, "Installing into a cluster").

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { createCa } from '../../certs/index.ts';
import { crdFor, joinTokenCrd, zoneTokenCrd } from '../../control-plane/api/crd.ts';
import { KINDS } from '../../control-plane/api/descriptors.ts';
import { startControlPlane } from '../helpers/control-plane.ts';
import { closedPort } from '../helpers/ports.ts';
import { jsonSchemaPropsErrors, kubectlSkip, parseDocuments, REPO, render, schemaErrors, type KubeObject } from './kube-objects.ts';

const KUBE = join(REPO, 'deploy/kubernetes');
const OVERLAYS = readdirSync(join(KUBE, 'overlays')).sort();
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const CLUSTER_SCOPED = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration']);

const rendered = new Map<string, KubeObject[]>();
const objects = (overlay: string): KubeObject[] => {
  if (!rendered.has(overlay)) rendered.set(overlay, render(join(KUBE, 'overlays', overlay)));
  return rendered.get(overlay)!;
};
const one = (objs: KubeObject[], kind: string, name?: string): KubeObject => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name === undefined ? '' : `/${name}`} (found ${found.length})`);
  return found[0];
};

test('the overlays are dev and ha', () => {
  assert.deepEqual(OVERLAYS, ['dev', 'ha']);
});

describe('the schema check itself', () => {
  test('catches a wrong type, a misspelled field, and a CRD schema keyword Kubernetes does not have', async () => {
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'three', selector: {}, template: { spec: { containers: [{ name: 'a', imag: 'x' }] } } } };
    const errors = await schemaErrors(deployment);
    assert.ok(errors.some((e) => /replicas must be integer/.test(e)), errors.join('\n'));
    assert.ok(errors.includes('Deployment/x: spec.template.spec.containers[0].imag is not a field of apps/v1 Deployment'), errors.join('\n'));
    assert.deepEqual(jsonSchemaPropsErrors({ type: 'object', properties: { a: { type: 'string', requird: true } } }, 's'), ['s.properties.a.requird is not a field of JSONSchemaProps']);
    const unknownKind = await schemaErrors({ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 't' } });
    assert.equal(unknownKind.length, 1);
    assert.match(unknownKind[0], /^Thing\/t: no schema for apiVersion example\.com\/v1/);
  });
});

for (const overlay of OVERLAYS) {
  describe(`overlays/${overlay}`, { skip: kubectlSkip }, () => {
    test('renders, and every object passes the Kubernetes OpenAPI schema with no unknown field', async () => {
      const objs = objects(overlay);
      const kinds = new Set(objs.map((o) => o.kind));
      for (const k of ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Deployment', 'PodDisruptionBudget', 'Service', 'MutatingWebhookConfiguration']) assert.ok(kinds.has(k), `renders a ${k}`);
      const errors = (await Promise.all(objs.map(schemaErrors))).flat();
      assert.deepEqual(errors, []);
    });

    test('installs every CRD exactly as generated from the kinds (and the join tokens\' the kube store keeps), and each namespaced object into sluice-system', () => {
      const objs = objects(overlay);
      const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
      const want = [...KINDS.filter((k) => k.crd).map((k) => crdFor(k)), joinTokenCrd(), zoneTokenCrd()];
      assert.deepEqual(crds.map((c) => c.metadata.name).sort(), want.map((c: any) => c.metadata.name).sort());
      for (const c of crds) assert.deepEqual(c, want.find((w: any) => w.metadata.name === c.metadata.name), `${c.metadata.name} as generated`);
      assert.equal(one(objs, 'Namespace').metadata.name, 'sluice-system');
      for (const o of objs.filter((x) => !CLUSTER_SCOPED.has(x.kind))) assert.equal(o.metadata.namespace, 'sluice-system', `${o.kind}/${o.metadata.name}`);
    });

    test("sluice-cp's pod meets the restricted Pod Security Standard its namespace enforces", () => {
      const objs = objects(overlay);
      assert.equal(one(objs, 'Namespace').metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
      const pod = one(objs, 'Deployment', 'sluice-cp').spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.ok(pod.securityContext.runAsUser > 0);
      assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
      assert.equal(pod.hostNetwork ?? false, false);
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
        assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] }, c.name);
        assert.ok(c.resources?.requests?.cpu !== undefined && c.resources?.requests?.memory !== undefined && c.resources?.limits?.memory !== undefined, `${c.name} has cpu and memory requests and a memory limit`);
      }
      for (const v of pod.volumes) assert.ok(v.hostPath === undefined, `volume ${v.name} is not a hostPath`);
    });

    test('the Service exposes 15012 (xDS), 15014 (API), 15017 (webhook), each onto a port of the container; the image is this version', () => {
      const objs = objects(overlay);
      const deployment = one(objs, 'Deployment', 'sluice-cp');
      const container = deployment.spec.template.spec.containers.find((c: { name: string }) => c.name === 'sluice-cp');
      assert.equal(container.image, `ghcr.io/sluice-mesh/sluice-cp:${VERSION}`);
      const service = one(objs, 'Service', 'sluice-cp');
      assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
      for (const [k, v] of Object.entries(service.spec.selector as Record<string, string>)) assert.equal(deployment.spec.template.metadata.labels[k], v);
      const containerPort = (ref: string | number) => container.ports.find((p: { name: string; containerPort: number }) => p.name === ref || p.containerPort === ref)?.containerPort;
      assert.deepEqual(service.spec.ports.map((p: { port: number; targetPort: string }) => [p.port, containerPort(p.targetPort)]), [[15012, 15012], [15014, 15014], [15017, 15017]]);
      // Each is where sluice-cp's arguments put it.
      const args: string[] = container.args;
      assert.equal(args[args.indexOf('--xds-addr') + 1], '0.0.0.0:15012');
      assert.equal(args[args.indexOf('--api-addr') + 1], '0.0.0.0:15014');
    });

    test('the PodDisruptionBudget selects the pods and lets a drain move one of them', () => {
      const objs = objects(overlay);
      const deployment = one(objs, 'Deployment', 'sluice-cp');
      const pdb = one(objs, 'PodDisruptionBudget', 'sluice-cp');
      for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels as Record<string, string>)) assert.equal(deployment.spec.template.metadata.labels[k], v);
      const replicas: number = deployment.spec.replicas;
      const disruptable = pdb.spec.maxUnavailable ?? replicas - pdb.spec.minAvailable;
      assert.ok(disruptable >= 1, `${replicas} replicas, ${JSON.stringify(pdb.spec)}: a drain could never evict one`);
      assert.ok(replicas === 1 || (pdb.spec.minAvailable ?? replicas - pdb.spec.maxUnavailable) >= 1, 'more than one replica: one stays up');
      assert.equal(replicas, { dev: 1, ha: 3 }[overlay]);
    });

    test('the webhook: pods created in namespaces labelled sluice.dev/inject=enabled, never kube-system or sluice-system, to /inject on 15017; sideEffects None, v1, a timeout', () => {
      const objs = objects(overlay);
      const mwc = one(objs, 'MutatingWebhookConfiguration');
      const role = one(objs, 'ClusterRole', 'sluice-cp');
      const service = one(objs, 'Service', 'sluice-cp');
      assert.equal(mwc.webhooks.length, 1);
      const w = mwc.webhooks[0];
      assert.deepEqual(w.clientConfig.service, { name: service.metadata.name, namespace: 'sluice-system', path: '/inject', port: 15017 });
      assert.equal(w.clientConfig.caBundle, undefined, 'sluice-cp fills in the caBundle');
      assert.deepEqual(w.rules, [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }]);
      assert.deepEqual(w.namespaceSelector.matchExpressions, [
        { key: 'sluice.dev/inject', operator: 'In', values: ['enabled'] },
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'sluice-system'] },
      ]);
      assert.equal(w.failurePolicy, 'Fail');
      assert.equal(w.sideEffects, 'None');
      assert.deepEqual(w.admissionReviewVersions, ['v1']);
      assert.ok(w.timeoutSeconds >= 1 && w.timeoutSeconds <= 30);
      const own = role.rules.find((r: { resources: string[] }) => r.resources.includes('mutatingwebhookconfigurations'));
      assert.deepEqual(own.resourceNames, [mwc.metadata.name], 'sluice-cp may patch this webhook configuration and no other');
      assert.equal(one(objs, 'Deployment', 'sluice-cp').spec.template.metadata.annotations['sluice.dev/inject'], 'disabled');
    });

    test("a real sluice-cp, started with the Deployment's arguments and volumes, answers the probes' path over HTTPS without a token", async () => {
      const deployment = one(objects(overlay), 'Deployment', 'sluice-cp');
      const pod = deployment.spec.template.spec;
      const container = pod.containers[0];
      const root = mkdtempSync(join(tmpdir(), 'sluice-deploy-'));
      try {
        // Each volume mount becomes a folder; a Secret volume is filled as the kubelet
        // would, key by key, with what the README says to put in the Secret.
        const ca = createCa({ trustDomain: 'cluster.local', now: Date.now() });
        const secretKeys: Record<string, string> = { 'admin-token': 'sluice_0123456789abcdef0123456789abcdef', 'root.pem': ca.root, 'ca.pem': ca.ca, 'ca-key.pem': ca.caKey, 'bundle.pem': ca.bundle };
        const mounts: [string, string][] = [];
        for (const m of container.volumeMounts as { name: string; mountPath: string }[]) {
          const dir = join(root, m.mountPath);
          mkdirSync(dir, { recursive: true });
          mounts.push([m.mountPath, dir]);
          const volume = pod.volumes.find((v: { name: string }) => v.name === m.name);
          for (const item of (volume.secret?.items ?? []) as { key: string; path: string }[]) {
            assert.ok(secretKeys[item.key] !== undefined, `the Secret's key ${item.key} is one the README says to create`);
            mkdirSync(join(dir, item.path, '..'), { recursive: true });
            writeFileSync(join(dir, item.path), secretKeys[item.key], { mode: 0o440 });
          }
        }
        const fromSecret = pod.volumes.some((v: { secret?: unknown }) => v.secret !== undefined);
        const local = (p: string) => {
          const m = mounts.filter(([from]) => p === from || p.startsWith(`${from}/`)).sort((a, b) => b[0].length - a[0].length)[0];
          return m === undefined ? p : m[1] + p.slice(m[0].length);
        };
        const apiPort = await closedPort();
        const args = (container.args as string[]).map((a, i, all) => {
          if (all[i - 1] === '--store') return `file:${join(root, 'store')}`; // no API server here
          if (a === '0.0.0.0:15014') return `0.0.0.0:${apiPort}`;
          if (a === '0.0.0.0:15012') return '127.0.0.1:0';
          return local(a);
        });
        const dataDir = args[args.indexOf('--data-dir') + 1];
        const cp = await startControlPlane({ dataDir, args: [...args, '--xds-plaintext-addr', 'off'], timeoutMs: 60_000 });
        try {
          if (fromSecret) {
            assert.doesNotMatch(cp.stderr(), /CA created|admin token created/, 'the CA and the admin token come from the Secret');
            assert.equal(cp.token, secretKeys['admin-token']);
          } else assert.match(cp.stderr(), /CA created/);
          for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
            const get = container[probe].httpGet;
            const port = container.ports.find((p: { name: string }) => p.name === get.port).containerPort;
            assert.equal(port, 15014, `${probe} is on the API's port`);
            assert.equal(get.scheme, 'HTTPS');
            const status = await new Promise<number>((resolve, reject) => {
              // The kubelet does not verify a probe's certificate, nor send a token.
              request({ host: '127.0.0.1', port: apiPort, path: get.path, rejectUnauthorized: false }, (res) => {
                res.resume();
                resolve(res.statusCode ?? 0);
              }).on('error', reject).end();
            });
            assert.equal(status, 200, `${probe} GET ${get.path}`);
          }
        } finally {
          await cp.stop();
        }
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  });
}

describe("Gateway API's CRDs", () => {
  const kustomization = parse(readFileSync(join(KUBE, 'gateway-api/kustomization.yaml'), 'utf8')) as { resources: string[] };
  const url = kustomization.resources[0];

  test('are installed by reference to one pinned release (standard channel), the one the README names', () => {
    assert.equal(kustomization.resources.length, 1);
    assert.match(url, /^https:\/\/github\.com\/kubernetes-sigs\/gateway-api\/releases\/download\/v\d+\.\d+\.\d+\/standard-install\.yaml$/);
    assert.ok(readFileSync(join(REPO, 'README.md'), 'utf8').includes(url), `README.md names ${url}`);
    assert.deepEqual(readdirSync(join(KUBE, 'gateway-api')), ['kustomization.yaml'], 'nothing of it is copied here');
  });

  test("every HTTPRoute and GRPCRoute of examples/ passes Gateway API's v1 schema (@kubernetes-models/gateway-api), with no unknown field", async () => {
    const files = readdirSync(join(REPO, 'examples'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yaml'));
    const routes = files.flatMap((f) => parseDocuments(readFileSync(join(REPO, 'examples', f), 'utf8'), f).filter((o) => o?.apiVersion === 'gateway.networking.k8s.io/v1').map((o) => ({ f, o })));
    assert.ok(routes.length >= 3, `found ${routes.length} routes in examples/`);
    const errors: string[] = [];
    for (const { f, o } of routes) if (!f.includes('broken')) errors.push(...(await schemaErrors(o)).map((e) => `examples/${f}: ${e}`));
    assert.deepEqual(errors, []);
    const misspelled = structuredClone(routes[0].o);
    misspelled.spec.rules[0].backendRef = misspelled.spec.rules[0].backendRefs;
    assert.ok((await schemaErrors(misspelled)).some((e) => /spec\.rules\[0\]\.backendRef is not a field/.test(e)));
  });
});
