// `sluicectl token create|list|revoke`: join tokens, with which a VM's sluice-proxy proves
// who it is on its first contact with the control plane (SPIRE's `token generate`,
// kubeadm's `token create`). `create` prints the token file the proxy reads (or writes it
// with --out, mode 0600): the token once, the identity it is bound to, and the trust bundle
// to check the control plane with.

import { chmodSync, writeFileSync } from 'node:fs';
import type { KindDescriptor } from '../../api/kind.ts';
import type { Resource } from '../../api/resource.ts';
import { formatTokenFile } from '../../../xds/token-file.ts';
import { UsageError, type Command } from '../command.ts';
import { ageOf, formatTable } from '../print/table.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';

/**
 * Where the join-token API lives, in the shape the API client builds paths from. Tokens
 * are not a kind of the API (no schema, not applied), so this is no entry of descriptors.ts.
 */
const JOIN_TOKENS = { group: 'ca.sluice.dev', version: 'v1', kind: 'JoinToken', plural: 'jointokens', scope: 'Namespaced' } as Partial<KindDescriptor<unknown>> as KindDescriptor<unknown>;

/** What the API answers (apiserver/tokens.ts JoinTokenView), plus the token and bundle on create. */
type TokenView = {
  metadata: { name: string; namespace: string; creationTimestamp: string };
  spec: { workload: string; identity: string; expiresAt: string };
  status: { state: string; usedAt?: string; revokedAt?: string };
  token?: string;
  trustBundle?: string;
};

const namespaceOf = (flag: unknown) => (typeof flag === 'string' ? flag : 'default');

export const tokenCreate: Command = {
  words: ['token', 'create'],
  usage: 'sluicectl token create --workload NAME [-n NS] [--ttl 1h] [--out FILE]',
  summary: "mint a single-use join token for a Workload's proxy; prints the token file (or writes it 0600 with --out)",
  examples: ['sluicectl token create --workload orders-vm-1 -n shop', 'sluicectl token create --workload orders-vm-1 -n shop --ttl 30m --out orders-vm-1.token'],
  options: { workload: { type: 'string' }, namespace: { type: 'string', short: 'n' }, ttl: { type: 'string' }, out: { type: 'string' }, ...CONNECTION_OPTIONS },
  required: ['workload'],
  positionals: 0,
  async run({ flags, ctx }) {
    const namespace = namespaceOf(flags.namespace);
    const body = { apiVersion: 'ca.sluice.dev/v1', kind: 'JoinToken', metadata: { name: '', namespace }, workload: String(flags.workload), ...(flags.ttl === undefined ? {} : { ttl: String(flags.ttl) }) };
    const created = await withClient(flags, ctx, (api) => api.create(JOIN_TOKENS, body as unknown as Resource));
    const t = created as unknown as TokenView;
    if (t.token === undefined || t.trustBundle === undefined) throw new Error('the control plane answered without a token; is it a version that mints join tokens?');
    const text = formatTokenFile({ token: t.token, identity: t.spec.identity, bundle: t.trustBundle }, { workload: t.spec.workload, namespace: t.metadata.namespace, expiresAt: t.spec.expiresAt });
    if (flags.out === undefined) {
      ctx.stdout(text);
      return 0;
    }
    const out = String(flags.out);
    try {
      writeFileSync(out, text, { mode: 0o600 });
      // writeFileSync's mode applies to new files only: an existing file must not stay readable by others.
      chmodSync(out, 0o600);
    } catch (err) {
      throw new Error(`minted join token ${t.metadata.name}, but cannot write ${out}: ${(err as Error).message}; revoke it with sluicectl token revoke ${t.metadata.name} -n ${namespace}`);
    }
    ctx.stdout(
      `join token ${t.metadata.name} for Workload ${t.metadata.namespace}/${t.spec.workload} written to ${out} (mode 0600)\n` +
        `  identity: ${t.spec.identity}\n  expires:  ${t.spec.expiresAt}; single use\n`,
    );
    return 0;
  },
};

export const tokenList: Command = {
  words: ['token', 'list'],
  usage: 'sluicectl token list [-n NS | -A]',
  summary: 'list join tokens: workload, identity, state (active, used, revoked, expired), expiry; never the secret',
  examples: ['sluicectl token list -n shop', 'sluicectl token list -A'],
  options: { namespace: { type: 'string', short: 'n' }, 'all-namespaces': { type: 'boolean', short: 'A' }, ...CONNECTION_OPTIONS },
  required: [],
  positionals: 0,
  async run({ flags, ctx }) {
    const all = flags['all-namespaces'] === true;
    if (all && flags.namespace !== undefined) throw new UsageError('-n and -A exclude each other');
    const namespace = all ? undefined : namespaceOf(flags.namespace);
    const items = (await withClient(flags, ctx, (api) => api.list(JOIN_TOKENS, namespace))) as unknown as TokenView[];
    if (items.length === 0) {
      ctx.stderr(namespace === undefined ? 'No join tokens found.\n' : `No join tokens found in ${namespace} namespace.\n`);
      return 0;
    }
    const now = ctx.clock();
    const headers = [...(all ? ['namespace'] : []), 'id', 'workload', 'identity', 'state', 'expires', 'age'];
    const rows = items.map((t) => [...(all ? [t.metadata.namespace] : []), t.metadata.name, t.spec.workload, t.spec.identity, t.status.state, t.spec.expiresAt, ageOf(t.metadata.creationTimestamp, now)]);
    ctx.stdout(formatTable(headers, rows));
    return 0;
  },
};

export const tokenRevoke: Command = {
  words: ['token', 'revoke'],
  usage: 'sluicectl token revoke ID [-n NS]',
  summary: 'revoke a join token: it can no longer be used (certificates already issued with it stay valid)',
  examples: ['sluicectl token revoke 0a1b2c3d4e5f -n shop'],
  options: { namespace: { type: 'string', short: 'n' }, ...CONNECTION_OPTIONS },
  required: [],
  positionals: 1,
  async run({ flags, positionals, ctx }) {
    const namespace = namespaceOf(flags.namespace);
    const t = (await withClient(flags, ctx, (api) => api.delete(JOIN_TOKENS, namespace, positionals[0]))) as unknown as TokenView;
    ctx.stdout(`join token ${t.metadata.name} for Workload ${t.metadata.namespace}/${t.spec.workload} revoked\n`);
    return 0;
  },
};
