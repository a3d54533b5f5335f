// A pod proves who it is with its projected service-account token (DESIGN: "Certificates"):
// the control plane hands the token to the Kubernetes API in a TokenReview with the
// audience Sluice asks pods to mount tokens for, and the API answers which service account
// (and which pod) the token was issued to. The identity is spiffe://TD/ns/NS/sa/SA of that
// service account, nothing the pod says about itself: a token for one service account never
// gets a certificate for another. Only pod-bound tokens are taken (projected volumes make
// them): a legacy Secret token names no pod and outlives every pod that held it.

import type { KubeConfig } from '@kubernetes/client-node';

/** The audience injected pods mount their token for (control-plane/inject/), and the only one accepted. */
export const SLUICE_TOKEN_AUDIENCE = 'sluice-cp';

/** What a TokenReview's status says, in the fields read here. */
export type TokenReviewStatus = {
  readonly authenticated?: boolean;
  readonly error?: string;
  readonly audiences?: readonly string[];
  readonly user?: { readonly username?: string; readonly extra?: Readonly<Record<string, readonly string[]>> };
};

/** Sends one TokenReview for `token` with `audiences`; rejects when the API cannot be asked. */
export type TokenReviewer = (token: string, audiences: readonly string[]) => Promise<TokenReviewStatus>;

export type PodIdentity = { readonly namespace: string; readonly serviceAccount: string; readonly pod: string; readonly podUid: string };

export type Attested = { readonly ok: true; readonly value: PodIdentity } | { readonly ok: false; readonly code: string; readonly message: string };

const SA_USER = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;
const POD_NAME = 'authentication.kubernetes.io/pod-name';
const POD_UID = 'authentication.kubernetes.io/pod-uid';
/** A JWT is three base64url parts; the API server never sees anything longer than this from us. */
const MAX_TOKEN_BYTES = 16 * 1024;

/** Which pod and service account `token` was issued to, by the API server's word. */
export async function attestPod(token: string, review: TokenReviewer, audience = SLUICE_TOKEN_AUDIENCE): Promise<Attested> {
  if (token.length > MAX_TOKEN_BYTES || !/^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)) {
    return { ok: false, code: 'KUBERNETES_TOKEN_MALFORMED', message: 'the kubernetes_token is not a JWT (three base64url parts, at most 16 KiB): send the projected service-account token file as it is' };
  }
  let status: TokenReviewStatus;
  try {
    status = await review(token, [audience]);
  } catch (err) {
    return { ok: false, code: 'TOKEN_REVIEW_FAILED', message: `the Kubernetes API could not review the token: ${(err as Error).message}; the pod's proxy retries` };
  }
  if (status.authenticated !== true) {
    return { ok: false, code: 'KUBERNETES_TOKEN_REJECTED', message: `the Kubernetes API did not authenticate the token${status.error ? `: ${status.error}` : ''}; the pod needs a projected service-account token with audience ${audience}` };
  }
  if (!(status.audiences ?? []).includes(audience)) {
    return { ok: false, code: 'KUBERNETES_TOKEN_AUDIENCE', message: `the token is not for audience ${audience} (it is for ${(status.audiences ?? []).join(', ') || 'no audience'}): mount a projected token with audience ${audience}, as the injector does` };
  }
  const user = SA_USER.exec(status.user?.username ?? '');
  if (user === null) {
    return { ok: false, code: 'KUBERNETES_TOKEN_NOT_SERVICE_ACCOUNT', message: `the token belongs to '${status.user?.username ?? ''}', not to a service account (system:serviceaccount:NAMESPACE:NAME)` };
  }
  const pod = status.user?.extra?.[POD_NAME]?.[0];
  const podUid = status.user?.extra?.[POD_UID]?.[0];
  if (pod === undefined || podUid === undefined) {
    return { ok: false, code: 'KUBERNETES_TOKEN_NOT_POD_BOUND', message: `the token of ${status.user!.username} is not bound to a pod (a legacy Secret token?): mount a projected service-account token, which names its pod` };
  }
  return { ok: true, value: { namespace: user[1], serviceAccount: user[3], pod, podUid } };
}

/** A TokenReviewer that asks the cluster `kc` points at (in-cluster, or a kubeconfig). */
export async function clusterTokenReviewer(kc: KubeConfig): Promise<TokenReviewer> {
  const { AuthenticationV1Api } = await import('@kubernetes/client-node');
  const api = kc.makeApiClient(AuthenticationV1Api);
  return async (token, audiences) => {
    const review = await api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [...audiences] } } });
    return (review.status ?? {}) as TokenReviewStatus;
  };
}
