// Sidecar injection: the mutating admission webhook (:15017) that adds the capture step and
// the proxy to pods of labelled namespaces, and the caBundle the API server trusts it by.

export { admissionReviewResponse, parseAdmissionReview, type AdmissionResponse, type JsonPatchOp, type Review } from './admission-review.ts';
export { caBundlePatch, DEFAULT_WEBHOOK_CONFIGURATION, keepCaBundleCurrent, updateCaBundle } from './ca-bundle.ts';
export * from './config.ts';
export { mutate, type Decision, type Labels, type Mutation } from './mutate.ts';
export { INJECT_PATH, serviceDnsNames, startWebhookServer, webhookCertificate, type WebhookServer, type WebhookServerOptions } from './webhook-server.ts';
