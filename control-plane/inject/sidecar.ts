// The containers and volumes injection adds to a pod: the capture step (an init container
// that writes the iptables rules, `sluice-proxy capture install`), the proxy, and the
// volumes the proxy needs (its projected service-account token, and writable folders under
// a read-only root filesystem).

import type { V1Container, V1EnvVar, V1Probe, V1ResourceRequirements, V1Volume } from '@kubernetes/client-node';
import { APP_PROBES_ENV, type AppProbe } from '../../kinds/app-probes.ts';
import { CA_BUNDLE_ENV } from '../../xds/ca-service.ts';
import {
  CAPTURE_CONTAINER,
  IDENTITY_DIR,
  INBOUND_CAPTURE_PORT,
  OUTBOUND_CAPTURE_PORT,
  PROXY_CONTAINER,
  PROXY_PROGRAM,
  PROXY_UID,
  STATS_PORT,
  TOKEN_DIR,
  TOKEN_FILE,
  type InjectConfig,
  type SidecarMode,
} from './config.ts';

export const TOKEN_VOLUME = 'sluice-token';
export const IDENTITY_VOLUME = 'sluice-identity';
export const TMP_VOLUME = 'sluice-tmp';

/** What the capture step excludes beyond the proxy's own user and ports (the pod's annotations). */
export type CaptureExclusions = { readonly inboundPorts: readonly number[]; readonly outboundPorts: readonly number[]; readonly outboundCidrs: readonly string[] };

/** The proxy's resources: requests from the annotations or these defaults; no CPU limit (throttling a proxy stalls every request of its app). */
export type ProxyResources = { readonly cpu: string; readonly memory: string; readonly memoryLimit: string };
export const DEFAULT_PROXY_RESOURCES: ProxyResources = { cpu: '50m', memory: '64Mi', memoryLimit: '256Mi' };

/** The init container that installs the capture rules, as root with NET_ADMIN and NET_RAW only. */
export function captureContainer(config: InjectConfig, ex: CaptureExclusions): V1Container {
  const args = ['capture', 'install', '--proxy-uid', String(PROXY_UID), '--inbound-port', String(INBOUND_CAPTURE_PORT), '--outbound-port', String(OUTBOUND_CAPTURE_PORT)];
  // The proxy's own :15000 and :15020 (the kubelet's probes) are never captured: capture install's defaults.
  if (ex.inboundPorts.length > 0) args.push('--exclude-inbound-ports', ex.inboundPorts.join(','));
  if (ex.outboundPorts.length > 0) args.push('--exclude-outbound-ports', ex.outboundPorts.join(','));
  if (ex.outboundCidrs.length > 0) args.push('--exclude-cidrs', ex.outboundCidrs.join(','));
  return {
    name: CAPTURE_CONTAINER,
    image: config.image,
    args,
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
    securityContext: {
      // iptables needs root inside the pod's network namespace, and NET_ADMIN/NET_RAW; nothing else.
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      // iptables takes its lock in /run: writable, as Istio's istio-init.
      readOnlyRootFilesystem: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
}

const readyGet = { path: '/healthz/ready', port: STATS_PORT, scheme: 'HTTP' };

/** The proxy: a native sidecar (restartPolicy Always in initContainers) or, in `container` mode, the first regular container. */
export function proxyContainer(config: InjectConfig, mode: SidecarMode, resources: ProxyResources, appProbes: Record<string, AppProbe>): V1Container {
  const field = (fieldPath: string): V1EnvVar['valueFrom'] => ({ fieldRef: { apiVersion: 'v1', fieldPath } });
  const env: V1EnvVar[] = [
    { name: 'POD_NAME', valueFrom: field('metadata.name') },
    { name: 'POD_NAMESPACE', valueFrom: field('metadata.namespace') },
    { name: 'SERVICE_ACCOUNT', valueFrom: field('spec.serviceAccountName') },
    { name: 'POD_IP', valueFrom: field('status.podIP') },
    { name: 'NODE_NAME', valueFrom: field('spec.nodeName') },
  ];
  if (Object.keys(appProbes).length > 0) env.push({ name: APP_PROBES_ENV, value: JSON.stringify(appProbes) });
  if (config.caBundle !== undefined) env.push({ name: CA_BUNDLE_ENV, value: config.caBundle() });
  // Ready at most ~10 minutes after the start (600 x 1 s): the first SVID and config may wait on a slow control plane.
  const startupProbe: V1Probe = { httpGet: readyGet, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 };
  const readinessProbe: V1Probe = { httpGet: readyGet, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 };
  const requirements: V1ResourceRequirements = { requests: { cpu: resources.cpu, memory: resources.memory }, limits: { memory: resources.memoryLimit } };
  return {
    name: PROXY_CONTAINER,
    image: config.image,
    // --capture: the capture step's rules send the pod's traffic to :15001 and :15006.
    args: ['--control-plane', config.controlPlaneAddress, '--capture', '--service-account-token', TOKEN_FILE, '--identity-dir', IDENTITY_DIR],
    ports: [{ name: 'sluice-stats', containerPort: STATS_PORT, protocol: 'TCP' }],
    env,
    resources: requirements,
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
      { name: IDENTITY_VOLUME, mountPath: IDENTITY_DIR },
      { name: TMP_VOLUME, mountPath: '/tmp' },
    ],
    ...(mode === 'native'
      ? // The kubelet starts the next container once the startup probe passes, and a Job ends without waiting on a restartable init container.
        { restartPolicy: 'Always', startupProbe, readinessProbe }
      : // No native sidecars (< 1.29): first in the list, and the kubelet starts the app only once postStart returns.
        { readinessProbe, lifecycle: { postStart: { exec: { command: [...PROXY_PROGRAM, 'wait', '--port', String(STATS_PORT), '--timeout', '2m'] } } } }),
  };
}

/** The proxy's volumes: a projected token for our audience, short-lived and rotated by the kubelet, and two emptyDirs. */
export function proxyVolumes(config: InjectConfig): V1Volume[] {
  return [
    { name: TOKEN_VOLUME, projected: { sources: [{ serviceAccountToken: { audience: config.tokenAudience, expirationSeconds: config.tokenExpirationSeconds, path: 'token' } }] } },
    { name: IDENTITY_VOLUME, emptyDir: { medium: 'Memory' } },
    { name: TMP_VOLUME, emptyDir: {} },
  ];
}
