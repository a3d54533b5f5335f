// Keeps the caBundle of the MutatingWebhookConfiguration current: the API server trusts the
// webhook's certificate only through it, and the mesh CA is ours (made at first start, or
// rotated by overlap), so the manifest cannot carry it. Istio's istiod patches its
// webhook the same way.
//
// The patch is an RFC 6902 JSON Patch (the client's default content type for this call):
// for each webhook, a `test` of its name at its index, then a `replace` of its caBundle,
// so a configuration edited between the read and the patch fails (422) instead of
// writing a bundle into another webhook.

import type { AdmissionregistrationV1Api, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import type { JsonPatchOp } from './admission-review.ts';

export const DEFAULT_WEBHOOK_CONFIGURATION = 'sluice-sidecar-injector';

/** The JSON Patch that sets every webhook's caBundle to `bundlePem`; [] when all already hold it. */
export function caBundlePatch(config: V1MutatingWebhookConfiguration, bundlePem: string): JsonPatchOp[] {
  const want = Buffer.from(bundlePem).toString('base64');
  const ops: JsonPatchOp[] = [];
  (config.webhooks ?? []).forEach((w, i) => {
    if (w.clientConfig?.caBundle === want) return;
    ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name });
    ops.push({ op: w.clientConfig?.caBundle === undefined ? 'add' : 'replace', path: `/webhooks/${i}/clientConfig/caBundle`, value: want });
  });
  return ops;
}

/**
 * Reads the configuration `name` and patches its caBundle when it differs. `api` is a
 * client made by the Kubernetes store (in-cluster config or --kubeconfig). Resolves with
 * the number of webhooks updated; rejects with the API's error.
 */
export async function updateCaBundle(api: AdmissionregistrationV1Api, name: string, bundlePem: string): Promise<number> {
  const current = await api.readMutatingWebhookConfiguration({ name });
  const patch = caBundlePatch(current, bundlePem);
  if (patch.length === 0) return 0;
  await api.patchMutatingWebhookConfiguration({ name, body: patch, fieldManager: 'sluice-cp' });
  return patch.length / 2;
}

/**
 * Runs updateCaBundle now and every `intervalMs` (an operator re-applying the manifest
 * resets caBundle to empty); `bundle` is read each time, so a rotated CA goes out on the
 * next round. A failure is logged and retried on the next round. Returns stop().
 */
export function keepCaBundleCurrent(opts: { api: AdmissionregistrationV1Api; name: string; bundle: () => string; intervalMs: number; log: Logger }): () => void {
  let running = false;
  const round = () => {
    if (running) return;
    running = true;
    updateCaBundle(opts.api, opts.name, opts.bundle())
      .then(
        (n) => n > 0 && opts.log('info', 'webhook caBundle updated', { configuration: opts.name, webhooks: n }),
        (err: unknown) => opts.log('warn', 'cannot update the webhook caBundle; retrying', { configuration: opts.name, error: (err as Error).message, retry_ms: opts.intervalMs }),
      )
      .finally(() => (running = false));
  };
  round();
  const timer = setInterval(round, opts.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
