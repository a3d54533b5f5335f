// The injection itself, a pure function: an AdmissionReview's Pod and its namespace's
// labels in, the AdmissionReview response out, with the RFC 6902 JSON Patch that adds the
// capture step, the proxy and its volumes and points the app's probes at the proxy.
//
// Whole lists are written with `add` (which replaces a member that exists): the patch is
// computed against exactly the object the API server sent, so rewriting the lists is as
// exact as editing them item by item, and much easier to check.

import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { AppProbe } from '../../kinds/app-probes.ts';
import type { AdmissionResponse, JsonPatchOp, Review } from './admission-review.ts';
import {
  CAPTURE_CONTAINER,
  EXCLUDE_INBOUND_PORTS,
  EXCLUDE_OUTBOUND_CIDRS,
  EXCLUDE_OUTBOUND_PORTS,
  NAMESPACE_ENABLED,
  NAMESPACE_LABEL,
  OPT_OUT_VALUES,
  POD_OPT_OUT,
  PROXY_CONTAINER,
  PROXY_CPU,
  PROXY_MEMORY,
  PROXY_MEMORY_LIMIT,
  REWRITE_PROBES_ANNOTATION,
  SIDECAR_MODE_ANNOTATION,
  STATUS_ANNOTATION,
  SYSTEM_NAMESPACES,
  type InjectConfig,
  type SidecarMode,
} from './config.ts';
import { rewriteProbes } from './probes.ts';
import { captureContainer, DEFAULT_PROXY_RESOURCES, proxyContainer, proxyVolumes, type CaptureExclusions, type ProxyResources } from './sidecar.ts';

export type Labels = Readonly<Record<string, string>>;

/** What was decided, for the log: injected, or why not. */
export type Decision = { readonly injected: true } | { readonly injected: false; readonly reason: string };

export type Mutation = { readonly response: AdmissionResponse; readonly decision: Decision; readonly patch: readonly JsonPatchOp[] };

/**
 * Answers one review. `namespaceLabels` is the namespace's labels, or null when the webhook
 * cannot read them and relies on the webhook configuration's namespaceSelector (which
 * sends only pods of `sluice.dev/inject: enabled` namespaces).
 */
export function mutate(review: Review, namespaceLabels: Labels | null, config: InjectConfig): Mutation {
  const skip = (reason: string): Mutation => ({ response: { uid: review.uid, allowed: true }, decision: { injected: false, reason }, patch: [] });
  if (review.kind !== '/v1/Pod' || review.operation !== 'CREATE') return skip(`not a Pod CREATE (${review.operation} ${review.kind})`);
  const ns = review.namespace;
  if (SYSTEM_NAMESPACES.includes(ns) || ns === config.controlPlaneNamespace) return skip(`namespace ${ns} is never injected`);
  if (namespaceLabels !== null && namespaceLabels[NAMESPACE_LABEL] !== NAMESPACE_ENABLED) return skip(`namespace ${ns} is not labelled ${NAMESPACE_LABEL}=${NAMESPACE_ENABLED}`);
  const pod = review.pod;
  const annotations = pod.metadata?.annotations ?? {};
  const optOut = annotations[POD_OPT_OUT] ?? pod.metadata?.labels?.[POD_OPT_OUT];
  if (optOut !== undefined && OPT_OUT_VALUES.includes(optOut)) return skip(`the pod opts out (${POD_OPT_OUT}: ${optOut})`);
  if (pod.spec?.hostNetwork === true) return skip("the pod uses the node's network: capture would redirect the node's traffic");
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  if (annotations[STATUS_ANNOTATION] !== undefined || all.some((c) => c.name === PROXY_CONTAINER || c.name === CAPTURE_CONTAINER)) return skip('already injected');

  const errors: string[] = [];
  const mode = sidecarMode(annotations[SIDECAR_MODE_ANNOTATION], config.sidecarMode, errors);
  const exclusions = captureExclusions(annotations, errors);
  const resources = proxyResources(annotations, errors);
  if (errors.length > 0) {
    const message = `sluice injection: ${errors.join('; ')}`;
    return { response: { uid: review.uid, allowed: false, status: { code: 400, message } }, decision: { injected: false, reason: message }, patch: [] };
  }

  const rewrite = annotations[REWRITE_PROBES_ANNOTATION] !== 'false';
  const appProbes: Record<string, AppProbe> = {};
  const containers: V1Container[] = (pod.spec?.containers ?? []).map((c) => {
    if (!rewrite) return c;
    const r = rewriteProbes(c);
    Object.assign(appProbes, r.probes);
    return r.container;
  });
  const proxy = proxyContainer(config, mode, resources, appProbes);
  const capture = captureContainer(config, exclusions);
  // The capture step first; then, as a native sidecar, the proxy before the pod's own init
  // containers, so they too run with the mesh.
  const initContainers = mode === 'native' ? [capture, proxy, ...(pod.spec?.initContainers ?? [])] : [capture, ...(pod.spec?.initContainers ?? [])];
  const patch: JsonPatchOp[] = [
    { op: 'add', path: '/spec/initContainers', value: initContainers },
    { op: 'add', path: '/spec/containers', value: mode === 'native' ? containers : [proxy, ...containers] },
    { op: 'add', path: '/spec/volumes', value: [...(pod.spec?.volumes ?? []), ...proxyVolumes(config)] },
    pod.metadata?.annotations === undefined
      ? { op: 'add', path: '/metadata/annotations', value: { [STATUS_ANNOTATION]: status(mode) } }
      : { op: 'add', path: `/metadata/annotations/${pointer(STATUS_ANNOTATION)}`, value: status(mode) },
  ];
  if (pod.metadata === undefined) patch.unshift({ op: 'add', path: '/metadata', value: {} });
  const encoded = Buffer.from(JSON.stringify(patch)).toString('base64');
  return { response: { uid: review.uid, allowed: true, patchType: 'JSONPatch', patch: encoded }, decision: { injected: true }, patch };
}

function status(mode: SidecarMode): string {
  return JSON.stringify({ sidecar: mode, initContainers: [CAPTURE_CONTAINER, ...(mode === 'native' ? [PROXY_CONTAINER] : [])], containers: mode === 'native' ? [] : [PROXY_CONTAINER] });
}

/** RFC 6901: '~' and '/' escaped in a JSON Pointer segment. */
export function pointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

// --- annotations ---

function sidecarMode(value: string | undefined, fallback: SidecarMode, errors: string[]): SidecarMode {
  if (value === undefined) return fallback;
  if (value === 'native' || value === 'container') return value;
  errors.push(`annotation ${SIDECAR_MODE_ANNOTATION}: '${value}' is not native or container`);
  return fallback;
}

function captureExclusions(a: Record<string, string>, errors: string[]): CaptureExclusions {
  const ports = (key: string): number[] => {
    const v = a[key];
    if (v === undefined || v.trim() === '') return [];
    const items = v.split(',').map((s) => s.trim());
    const bad = items.filter((s) => !/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535);
    if (bad.length > 0) errors.push(`annotation ${key}: '${bad.join("', '")}' not a port (1-65535); give a comma-separated list such as 8081,9090`);
    return items.filter((s) => !bad.includes(s)).map(Number);
  };
  const cidrs = (a[EXCLUDE_OUTBOUND_CIDRS] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const badCidrs = cidrs.filter((c) => !isCidr(c));
  if (badCidrs.length > 0) errors.push(`annotation ${EXCLUDE_OUTBOUND_CIDRS}: '${badCidrs.join("', '")}' not a CIDR such as 10.0.0.0/8`);
  return { inboundPorts: ports(EXCLUDE_INBOUND_PORTS), outboundPorts: ports(EXCLUDE_OUTBOUND_PORTS), outboundCidrs: cidrs.filter((c) => !badCidrs.includes(c)) };
}

function isCidr(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  return m !== null && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
}

/** Kubernetes quantities: 100m, 0.5, 64Mi, 1G, 128974848. */
const QUANTITY = /^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

function proxyResources(a: Record<string, string>, errors: string[]): ProxyResources {
  const pick = (key: string, fallback: string): string => {
    const v = a[key];
    if (v === undefined) return fallback;
    if (QUANTITY.test(v)) return v;
    errors.push(`annotation ${key}: '${v}' is not a Kubernetes quantity such as 100m or 128Mi`);
    return fallback;
  };
  return { cpu: pick(PROXY_CPU, DEFAULT_PROXY_RESOURCES.cpu), memory: pick(PROXY_MEMORY, DEFAULT_PROXY_RESOURCES.memory), memoryLimit: pick(PROXY_MEMORY_LIMIT, DEFAULT_PROXY_RESOURCES.memoryLimit) };
}
