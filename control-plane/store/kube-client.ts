// The few calls the Kubernetes store makes, through @kubernetes/client-node: its KubeConfig
// (in-cluster service account, or a kubeconfig file: server, CA, token, client
// certificates, exec plugins) signs every request, and its Watch streams the events.
// Reads and writes are plain JSON requests rather than the generated typed clients: those
// turn timestamps into Date objects and drop the fields of kinds they do not know, and
// this store keeps objects exactly as the server sent them.

import { HttpMethod, KubeConfig, RequestContext, Watch } from '@kubernetes/client-node';
import { fetch } from 'undici';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; managedFields?: unknown; [k: string]: unknown };
  status?: unknown;
  [k: string]: unknown;
};

export type KubeList = { readonly metadata: { readonly resourceVersion: string }; readonly items: KubeObject[] };

/** A Status object the server answered with (or one made for a network failure, code 0). */
export class KubeApiError extends Error {
  readonly code: number;
  readonly reason: string;

  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeApiError';
    this.code = code;
    this.reason = reason;
  }
}

export type WatchEventLine = { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; readonly object: KubeObject };

export type WatchHandle = { abort(): void };

/**
 * `kubeconfig`: a file; undefined: the pod's service account (in-cluster). Throws a
 * sentence naming what is missing when neither works.
 */
export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig !== undefined) {
    try {
      kc.loadFromFile(kubeconfig);
    } catch (err) {
      throw new Error(`--kubeconfig ${kubeconfig} cannot be read: ${(err as Error).message}`);
    }
  } else {
    if (process.env.KUBERNETES_SERVICE_HOST === undefined || process.env.KUBERNETES_SERVICE_PORT === undefined) {
      throw new Error('--store kubernetes without --kubeconfig needs the in-cluster config (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: not in a pod); give --kubeconfig FILE');
    }
    kc.loadFromCluster();
  }
  if (kc.getCurrentCluster() === null) throw new Error(`${kubeconfig ?? 'the in-cluster config'} names no current cluster`);
  return kc;
}

export class KubeClient {
  readonly #kc: KubeConfig;
  readonly #watch: Watch;
  readonly #server: string;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
    this.#watch = new Watch(kc);
    // The server ends each watch after timeoutSeconds (below); until then a quiet type
    // sends only bookmarks, so the client's own inactivity cut (30 s by default) would
    // end healthy watches over and over.
    // (The field is private in its typings, but it is the only way to set it.)
    (this.#watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 330_000;
    this.#server = kc.getCurrentCluster()!.server.replace(/\/+$/, '');
  }

  get server(): string {
    return this.#server;
  }

  /** JSON in, JSON out; a non-2xx answer throws KubeApiError with the server's Status. */
  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const ctx = new RequestContext(`${this.#server}${path}`, HttpMethod[method]);
    ctx.setHeaderParam('Accept', 'application/json');
    if (body !== undefined) ctx.setHeaderParam('Content-Type', contentType);
    await this.#kc.applySecurityAuthentication(ctx);
    let res;
    try {
      res = await fetch(ctx.getUrl(), { method, headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() as never, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new KubeApiError(0, 'Unreachable', `${method} ${this.#server}${path} failed: ${(err as Error).message}${cause === undefined ? '' : ` (${cause})`}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.status < 200 || res.status > 299) {
      const s = parsed as { reason?: string; message?: string } | undefined;
      throw new KubeApiError(res.status, s?.reason ?? 'Unknown', `${method} ${path}: ${res.status} ${s?.message ?? text.slice(0, 200)}`);
    }
    return parsed as T;
  }

  /**
   * A watch from `resourceVersion`, with bookmarks. `onEvent` gets every line (an ERROR
   * line holds a Status: 410 means the version is too old); `onEnd` once, when the stream
   * ends or fails (null: the server closed it).
   */
  async watch(path: string, resourceVersion: string, onEvent: (e: WatchEventLine) => void, onEnd: (err: Error | null) => void): Promise<WatchHandle> {
    const controller = await this.#watch.watch(path, { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 240 + Math.floor(Math.random() * 60) }, (type: string, object: KubeObject) => onEvent({ type: type as WatchEventLine['type'], object }), (err: unknown) => onEnd(err === null || err === undefined ? null : (err as Error)));
    return { abort: () => controller.abort() };
  }
}
