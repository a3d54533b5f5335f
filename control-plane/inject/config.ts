// What the injector is told (sluice-cp's --inject-* and --webhook-service flags) and the
// names users write on namespaces and pods, in one place: the README documents each.

/** Namespace label that opts every new pod in the namespace in: `sluice.dev/inject: enabled` (Istio's istio-injection=enabled). */
export const NAMESPACE_LABEL = 'sluice.dev/inject';
export const NAMESPACE_ENABLED = 'enabled';
/** Pod annotation (or label) that opts one pod out: `sluice.dev/inject: "false"` (or `disabled`). */
export const POD_OPT_OUT = 'sluice.dev/inject';
export const OPT_OUT_VALUES: readonly string[] = ['false', 'disabled'];
/** Written on every injected pod; a pod carrying it (or a sluice-proxy container) is never injected twice. */
export const STATUS_ANNOTATION = 'sluice.dev/status';
/** Pod annotation: `native` (the default with the flag's default) or `container` (Kubernetes < 1.29). */
export const SIDECAR_MODE_ANNOTATION = 'sluice.dev/sidecar-mode';
/** Pod annotation `"false"`: leave the app's probes as they are. */
export const REWRITE_PROBES_ANNOTATION = 'sluice.dev/rewrite-app-probes';
/** Pod annotations passed to the capture step: comma-separated ports, or CIDRs. */
export const EXCLUDE_INBOUND_PORTS = 'sluice.dev/exclude-inbound-ports';
export const EXCLUDE_OUTBOUND_PORTS = 'sluice.dev/exclude-outbound-ports';
export const EXCLUDE_OUTBOUND_CIDRS = 'sluice.dev/exclude-outbound-cidrs';
/** Pod annotations overriding the proxy's resources (Kubernetes quantities). */
export const PROXY_CPU = 'sluice.dev/proxy-cpu';
export const PROXY_MEMORY = 'sluice.dev/proxy-memory';
export const PROXY_MEMORY_LIMIT = 'sluice.dev/proxy-memory-limit';

/** Never injected, whatever their labels say; the control plane's own namespace is added to these. */
export const SYSTEM_NAMESPACES: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

export const PROXY_CONTAINER = 'sluice-proxy';
export const CAPTURE_CONTAINER = 'sluice-init';
/** The proxy runs as this user; the capture rules let its own traffic through (Istio's 1337). */
export const PROXY_UID = 1337;
export const OUTBOUND_CAPTURE_PORT = 15001;
export const INBOUND_CAPTURE_PORT = 15006;
export const STATS_PORT = 15020;
/** Where the projected service-account token is mounted in the proxy, and the file in it. */
export const TOKEN_DIR = '/var/run/secrets/sluice.dev';
export const TOKEN_FILE = `${TOKEN_DIR}/token`;
/** The proxy's key, SVID and bundle: an emptyDir, since the root filesystem is read-only. */
export const IDENTITY_DIR = '/var/run/sluice/identity';

/** The default proxy image (deploy/images/sluice-proxy.Dockerfile), tagged with this version. */
export const DEFAULT_IMAGE_REPOSITORY = 'ghcr.io/sluice-mesh/sluice-proxy';
/** sluice-proxy in that image (its ENTRYPOINT's program), for the one command the injector runs itself: the postStart hook. */
export const PROXY_PROGRAM: readonly string[] = ['node', '/opt/sluice/proxy/main.ts'];

export type SidecarMode = 'native' | 'container';

export type InjectConfig = {
  /** The proxy image, used for the proxy and the capture step. */
  readonly image: string;
  /** host:port injected proxies dial for xDS and certificates (the Service's :15012). */
  readonly controlPlaneAddress: string;
  /** Never injected: the control plane's own namespace. */
  readonly controlPlaneNamespace: string;
  /** The default sidecar mode; a pod's sluice.dev/sidecar-mode annotation overrides it. */
  readonly sidecarMode: SidecarMode;
  /** The audience of the projected token; the control plane's TokenReview asks for it. */
  readonly tokenAudience: string;
  readonly tokenExpirationSeconds: number;
  /**
   * The mesh's roots as the control plane holds them when the pod is created: the proxy
   * checks the control plane's certificate with them at its first contact (Linkerd injects
   * its trust anchors the same way); later roots come with each SVID. Absent: not injected.
   */
  readonly caBundle?: () => string;
};

export const DEFAULT_TOKEN_AUDIENCE = 'sluice-cp';

/** The config for a control plane behind Service `service` in `namespace`. */
export function injectConfig(opts: { image: string; service: string; namespace: string; sidecarMode: SidecarMode; caBundle?: () => string }): InjectConfig {
  return {
    image: opts.image,
    controlPlaneAddress: `${opts.service}.${opts.namespace}.svc:15012`,
    controlPlaneNamespace: opts.namespace,
    sidecarMode: opts.sidecarMode,
    tokenAudience: DEFAULT_TOKEN_AUDIENCE,
    tokenExpirationSeconds: 3600,
    ...(opts.caBundle === undefined ? {} : { caBundle: opts.caBundle }),
  };
}
