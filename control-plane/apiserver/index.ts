// The control plane's HTTP API: what main.ts starts.

export { createApiServer, type ApiServerOptions } from './server.ts';
export { ensureAdminToken, ADMIN_TOKEN_FILE } from './token.ts';
export { collectionPath, itemPath, parsePath } from './paths.ts';
export type { Status, Reason } from './status.ts';
