// What `apply` and `diff` do before they write anything: read each document's kind and
// name here, then have the server check every document (schema and rules, with field
// paths) with a dry run against what is live, as kubectl's server-side validation does.
// The server is the one judge of what it accepts, so a CLI of another version never
// refuses what the server takes or takes what it refuses, and the CLI never loads the
// kinds' schemas. The result is either a plan for every document or the full list of
// problems: one bad document stops the whole apply, so a half-applied mesh (a route
// without its services) never happens.

import { kindOf, type KindNames } from '../api/kind-names.ts';
import type { Resource } from '../api/resource.ts';
import { isApiError, type ApiClient } from './client.ts';
import type { Manifest, Problem } from './manifests.ts';
import { pathLabel, withoutServerFields } from './print/resource.ts';

export type Planned = {
  readonly manifest: Manifest;
  readonly kind: KindNames<unknown>;
  /** The document as it will be sent: namespace filled, server-set metadata removed. */
  readonly desired: Resource;
  /** The resource as stored now; undefined when it does not exist yet. */
  readonly live?: Resource;
  /** What the server would store (its dry run of the create or update). */
  readonly preview: Resource;
};

export type PlanOptions = {
  /** Fills the namespace of documents of namespaced kinds that have none. */
  readonly namespace: string;
  /** Whether -n was given: then a document in another namespace is an error (kubectl's rule). */
  readonly namespaceGiven: boolean;
};

export async function planApply(api: ApiClient, manifests: readonly Manifest[], opts: PlanOptions): Promise<{ planned: Planned[]; problems: Problem[] }> {
  const problems: Problem[] = [];
  const checked = checkLocally(manifests, opts, problems);
  const planned: Planned[] = [];
  for (const c of checked) {
    const { manifest, kind, desired } = c;
    try {
      // Without a name there is nothing to look up: the server's dry run says what is wrong.
      const live = typeof desired.metadata?.name === 'string' ? await getIfExists(api, kind, desired) : undefined;
      const preview = live === undefined ? await api.create(kind, desired, { dryRun: true }) : await api.update(kind, conditional(desired, live), { dryRun: true });
      planned.push({ ...c, live, preview });
    } catch (err) {
      problems.push(...documentProblems(manifest, err));
    }
  }
  return { planned, problems };
}

/**
 * What apply and diff both do with `-f` files already read: plan them, with `-n` as the
 * namespace (default `default`), and gather the read problems with the plan's.
 */
export async function planManifests(api: ApiClient, read: { manifests: readonly Manifest[]; problems: readonly Problem[] }, namespace: unknown): Promise<{ planned: Planned[]; problems: Problem[] }> {
  const plan = await planApply(api, read.manifests, { namespace: typeof namespace === 'string' ? namespace : 'default', namespaceGiven: namespace !== undefined });
  return { planned: plan.planned, problems: [...read.problems, ...plan.problems] };
}

/** `desired`, to be written only if `live` is still what is stored. */
export function conditional(desired: Resource, live: Resource): Resource {
  return { ...desired, metadata: { ...desired.metadata, resourceVersion: live.metadata.resourceVersion } };
}

export async function getIfExists(api: ApiClient, kind: KindNames<unknown>, r: Resource): Promise<Resource | undefined> {
  try {
    return await api.get(kind, r.metadata.namespace, r.metadata.name);
  } catch (err) {
    if (isApiError(err, 'NOT_FOUND')) return undefined;
    throw err;
  }
}

/**
 * A refusal about this one document becomes its problems (each field cause on its own);
 * anything else (unreachable, unauthorized, a server fault) is rethrown, since it would
 * fail every document the same way.
 */
export function documentProblems(manifest: Manifest, err: unknown): Problem[] {
  if (!isApiError(err) || ![400, 404, 409, 422].includes(err.status)) throw err;
  const { where, prefix, seq } = manifest;
  if (err.causes.length === 0) return [{ where, message: err.message, seq }];
  return err.causes.map((c) => ({ where, path: prefix + c.path, message: c.message, seq }));
}

type Checked = { readonly manifest: Manifest; readonly kind: KindNames<unknown>; readonly desired: Resource };

function checkLocally(manifests: readonly Manifest[], opts: PlanOptions, problems: Problem[]): Checked[] {
  const out: Checked[] = [];
  const seen = new Map<string, string>();
  for (const manifest of manifests) {
    const { kind, violations } = kindOf(manifest.doc);
    if (kind === undefined) {
      for (const v of violations) problems.push({ where: manifest.where, path: manifest.prefix + v.path, message: v.message, seq: manifest.seq });
      continue;
    }
    const doc = manifest.doc as Resource;
    const given = typeof doc.metadata === 'object' && doc.metadata !== null && !Array.isArray(doc.metadata) ? doc.metadata : undefined;
    const ns = given?.namespace;
    if (opts.namespaceGiven && typeof ns === 'string' && ns !== opts.namespace) {
      problems.push({ where: manifest.where, path: `${manifest.prefix}metadata.namespace`, message: `is '${ns}' but --namespace is '${opts.namespace}'; drop -n or make them agree`, seq: manifest.seq });
      continue;
    }
    // The namespace a namespaced kind's document leaves out is -n's (kubectl's context namespace).
    const filled = given !== undefined && kind.scope === 'Namespaced' && ns === undefined ? { ...doc, metadata: { ...given, namespace: opts.namespace } } : doc;
    const desired = given === undefined ? filled : withoutServerFields(filled);
    // A second copy would silently overwrite the first within one apply.
    if (typeof given?.name === 'string') {
      const key = pathLabel(kind, desired);
      const first = seen.get(key);
      if (first !== undefined) {
        problems.push({ where: manifest.where, message: `${key} is also defined at ${first}; a resource may appear once per apply`, seq: manifest.seq });
        continue;
      }
      seen.set(key, manifest.where + (manifest.prefix === '' ? '' : ` ${manifest.prefix.slice(0, -1)}`));
    }
    out.push({ manifest, kind, desired });
  }
  return out;
}
