// sluice-cp's ClusterRole (deploy/kubernetes/base/clusterrole.yaml) grants exactly the API
// calls sluice-cp makes: the table below, one row per use, with the rows for our kinds and
// Gateway API's routes taken from the kinds' descriptors (a new kind the role forgets fails
// here). And every call the code itself makes through @kubernetes/client-node is found
// and checked: a typed method (listNamespacedPod, createTokenReview, ...) is looked up in
// client-node's own generated sources for its path and HTTP method, an API path literal
// (a Watch or an informer) counts as list and watch.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { KINDS } from '../../control-plane/api/descriptors.ts';
import { REPO } from './kube-objects.ts';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
/** `group|resource|verb|name`: one permission (name '' when any). */
type Grant = string;

const role = parse(readFileSync(join(REPO, 'deploy/kubernetes/base/clusterrole.yaml'), 'utf8')) as { rules: Rule[] };
const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete'];
const STATUS = ['get', 'update', 'patch'];

/** What sluice-cp does with the API, and why. */
export const CALLS: readonly { group: string; resources: string[]; verbs: string[]; names?: string[]; why: string }[] = [
  { group: '', resources: ['services'], verbs: READ, why: 'the kube store reads core Services as they are' },
  { group: 'discovery.k8s.io', resources: ['endpointslices'], verbs: READ, why: "the instances behind a Service (registry)" },
  { group: '', resources: ['pods'], verbs: READ, why: "each endpoint's pod: its labels, service account, node" },
  { group: '', resources: ['nodes'], verbs: READ, why: "a pod's zone, from its node's topology.kubernetes.io/zone" },
  { group: '', resources: ['namespaces'], verbs: READ, why: "a namespace's labels (injection, policies)" },
  ...KINDS.filter((k) => k.group !== '').flatMap((k) => [
    { group: k.group, resources: [k.plural], verbs: [...READ, ...WRITE], why: `${k.kind}: watched by the store; written when sluicectl apply/delete goes through sluice-cp` },
    { group: k.group, resources: [`${k.plural}/status`], verbs: STATUS, why: `${k.kind}: the conditions sluice-cp computes` },
  ]),
  { group: 'ca.sluice.dev', resources: ['jointokens', 'zonetokens'], verbs: [...READ, ...WRITE], why: 'join and zone tokens: minted, used and revoked by sluice-cp (the kube store keeps them as JoinToken and ZoneToken objects)' },
  { group: 'authentication.k8s.io', resources: ['tokenreviews'], verbs: ['create'], why: "a pod proxy's service-account token, checked at join" },
  { group: 'admissionregistration.k8s.io', resources: ['mutatingwebhookconfigurations'], verbs: ['get', 'patch'], names: ['sluice-sidecar-injector'], why: "the injector's caBundle, kept current" },
];

function grantsOf(rules: readonly { group: string; resources: string[]; verbs: string[]; names?: string[] }[]): Set<Grant> {
  const out = new Set<Grant>();
  for (const r of rules) for (const res of r.resources) for (const v of r.verbs) for (const n of r.names ?? ['']) out.add(`${r.group}|${res}|${v}|${n}`);
  return out;
}

const granted = grantsOf(role.rules.flatMap((r) => r.apiGroups.map((group) => ({ group, resources: r.resources, verbs: r.verbs, names: r.resourceNames }))));

/** Whether the role allows `verb` on group/resource (by name, when the grant is by name). */
const allows = (group: string, resource: string, verb: string, name = '') => granted.has(`${group}|${resource}|${verb}|`) || (name !== '' && granted.has(`${group}|${resource}|${verb}|${name}`));

// --- the calls the code makes, found in its source ---

const CLIENT_APIS = join(REPO, 'node_modules/@kubernetes/client-node/dist/gen/apis');

/** client-node's typed methods: name -> the paths and HTTP methods it may call (from its generated sources). */
function clientMethods(): Map<string, { path: string; method: string }[]> {
  const out = new Map<string, { path: string; method: string }[]>();
  for (const f of readdirSync(CLIENT_APIS).filter((n) => /^(\w+V1Api|CustomObjectsApi)\.js$/.test(n))) {
    const text = readFileSync(join(CLIENT_APIS, f), 'utf8');
    // Each request factory: `name(args, _options) { ... localVarPath = '...' ... makeRequestContext(localVarPath, HttpMethod.X)`.
    for (const m of text.matchAll(/^\s{4}async (\w+)\([^)]*\) \{[\s\S]*?localVarPath = '([^']+)'[\s\S]*?HttpMethod\.(\w+)\)/gm)) {
      out.set(m[1], [...(out.get(m[1]) ?? []), { path: m[2], method: m[3] }]);
    }
  }
  return out;
}

/** `/api/v1/namespaces/{namespace}/pods/{name}/status` -> group '', resource 'pods/status', named. */
export function resourceOfPath(path: string): { group: string; resource: string; named: boolean } | undefined {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/[^/]+)?\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(path);
  if (m === null) return undefined;
  return { group: m[1] ?? '', resource: m[4] === undefined ? m[2] : `${m[2]}/${m[4]}`, named: m[3] !== undefined };
}

const VERB_OF: Record<string, (named: boolean) => string> = { GET: (n) => (n ? 'get' : 'list'), POST: () => 'create', PUT: () => 'update', PATCH: () => 'patch', DELETE: (n) => (n ? 'delete' : 'deletecollection') };

/** Our kinds and Gateway API's routes: what a CustomObjectsApi call's {group}/{plural} can be. */
const CUSTOM = KINDS.filter((k) => k.group !== '').map((k) => ({ group: k.group, plural: k.plural }));

/** Every permission a source text needs for its @kubernetes/client-node calls, with where it was seen. */
export function callsIn(text: string, methods: Map<string, { path: string; method: string }[]>): { need: [string, string, string][]; seen: string }[] {
  const out: { need: [string, string, string][]; seen: string }[] = [];
  for (const m of text.matchAll(/\.(\w+)\s*\(/g)) {
    for (const { path, method } of methods.get(m[1]) ?? []) {
      const r = resourceOfPath(path);
      if (r === undefined) continue;
      const verb = VERB_OF[method](r.named);
      const need: [string, string, string][] = r.group === '{group}' ? CUSTOM.map((c) => [c.group, r.resource.replace('{plural}', c.plural), verb]) : [[r.group, r.resource, verb]];
      out.push({ need, seen: `${m[1]}() -> ${method} ${path}` });
    }
  }
  for (const m of text.matchAll(/['"`](\/apis?\/[\w./{}$-]+)['"`]/g)) {
    const r = resourceOfPath(m[1]);
    if (r === undefined || r.named) continue;
    out.push({ need: ['list', 'watch'].map((v) => [r.group, r.resource, v]), seen: `path ${m[1]} (list and watch)` });
  }
  return out;
}

function sourcesUsingClientNode(): { file: string; text: string }[] {
  const files = readdirSync(join(REPO, 'control-plane'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  return files.map((f) => ({ file: `control-plane/${f}`, text: readFileSync(join(REPO, 'control-plane', f), 'utf8') })).filter((s) => /from '@kubernetes\/client-node'/.test(s.text));
}

describe("sluice-cp's ClusterRole", () => {
  test('grants exactly the table of calls: nothing missing, nothing more', () => {
    const want = grantsOf(CALLS.map((c) => ({ group: c.group, resources: c.resources, verbs: c.verbs, names: c.names })));
    assert.deepEqual([...want].filter((g) => !granted.has(g)).sort(), [], 'calls the role does not grant');
    assert.deepEqual([...granted].filter((g) => !want.has(g)).sort(), [], 'grants no call needs');
  });

  test('no wildcard, no Secrets, no escalation', () => {
    for (const r of role.rules) {
      for (const x of [...r.apiGroups, ...r.resources, ...r.verbs]) assert.notEqual(x, '*');
      assert.ok(!r.resources.includes('secrets'), 'sluice-cp reads its CA from a mounted Secret, never through the API');
      for (const v of ['escalate', 'bind', 'impersonate', 'deletecollection']) assert.ok(!r.verbs.includes(v), v);
    }
  });

  test('the ServiceAccount sluice-cp runs as is bound to it', () => {
    const binding = parse(readFileSync(join(REPO, 'deploy/kubernetes/base/clusterrolebinding.yaml'), 'utf8'));
    const deployment = parse(readFileSync(join(REPO, 'deploy/kubernetes/base/deployment.yaml'), 'utf8'));
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'sluice-cp' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: deployment.spec.template.spec.serviceAccountName, namespace: 'sluice-system' }]);
  });

  test('the call finder reads client-node: typed methods by their path and HTTP method, custom objects as every kind, API paths as list+watch', () => {
    const methods = clientMethods();
    assert.ok(methods.size > 300, `read ${methods.size} methods from client-node`);
    const sample = `
      await core.listNamespacedPod({ namespace });
      await auth.createTokenReview({ body });
      await adm.patchMutatingWebhookConfiguration({ name: 'sluice-sidecar-injector', body });
      await custom.patchNamespacedCustomObjectStatus({ group, version, namespace, plural, name, body });
      await core.readNamespacedSecret({ name: 'x', namespace: 'y' });
      makeInformer(kc, '/apis/discovery.k8s.io/v1/endpointslices', list);
    `;
    const found = callsIn(sample, methods);
    const flat = found.flatMap((f) => f.need.map((n) => n.join(' ')));
    for (const want of ['|pods|list', 'authentication.k8s.io|tokenreviews|create', 'admissionregistration.k8s.io|mutatingwebhookconfigurations|patch', 'mesh.sluice.dev|workloads/status|patch', 'gateway.networking.k8s.io|httproutes/status|patch', '|secrets|get', 'discovery.k8s.io|endpointslices|watch']) {
      assert.ok(flat.includes(want.replaceAll('|', ' ')), `${want} in ${flat.join(', ')}`);
    }
    // And the role is checked against them: reading a Secret is not granted.
    const refused = found.flatMap((f) => f.need.filter(([g, r, v]) => !allows(g, r, v, 'sluice-sidecar-injector')).map((n) => n.join(' ')));
    assert.deepEqual(refused, [' secrets get']);
  });

  test('grants every call the control plane makes through @kubernetes/client-node', () => {
    const methods = clientMethods();
    const missing: string[] = [];
    for (const { file, text } of sourcesUsingClientNode()) {
      for (const { need, seen } of callsIn(text, methods)) {
        for (const [g, r, v] of need) if (!allows(g, r, v, 'sluice-sidecar-injector')) missing.push(`${file}: ${seen} needs ${v} on ${g === '' ? 'core' : g} ${r}`);
      }
    }
    assert.deepEqual(missing, []);
  });
});
