// What the injector asks of the Kubernetes API when sluice-cp runs on it (--store
// kubernetes): the labels of a pod's namespace, a second check behind the webhook
// configuration's namespaceSelector, and the caBundle kept current. Not exported from
// index.ts: it loads @kubernetes/client-node, which sluice-cp off Kubernetes never needs.

import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { DEFAULT_WEBHOOK_CONFIGURATION, keepCaBundleCurrent } from './ca-bundle.ts';
import type { Labels } from './mutate.ts';

/** How often the caBundle is checked: a re-applied manifest empties it. */
export const CA_BUNDLE_INTERVAL_MS = 5 * 60_000;

/**
 * A namespace's labels from the API; null when they cannot be read (the API is down, or
 * RBAC refuses), so the injector falls back on the namespaceSelector that sent the pod
 * rather than failing the pod's creation over a second check.
 */
export function namespaceLabelsFrom(api: CoreV1Api, log: Logger): (namespace: string) => Promise<Labels | null> {
  return async (name) => {
    try {
      const ns = await api.readNamespace({ name });
      return ns.metadata?.labels ?? {};
    } catch (err) {
      log('warn', "cannot read the pod's namespace; the webhook configuration's namespaceSelector decides", { namespace: name, error: (err as Error).message });
      return null;
    }
  };
}

/** The injector's two uses of the API over `kc`; `stop()` ends the caBundle rounds. */
export function injectorOnKubernetes(kc: KubeConfig, opts: { bundle: () => string; log: Logger; configuration?: string }): { namespaceLabels: (namespace: string) => Promise<Labels | null>; stop: () => void } {
  const stop = keepCaBundleCurrent({ api: kc.makeApiClient(AdmissionregistrationV1Api), name: opts.configuration ?? DEFAULT_WEBHOOK_CONFIGURATION, bundle: opts.bundle, intervalMs: CA_BUNDLE_INTERVAL_MS, log: opts.log });
  return { namespaceLabels: namespaceLabelsFrom(kc.makeApiClient(CoreV1Api), opts.log), stop };
}
