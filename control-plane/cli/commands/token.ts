// `sluicectl token create|list|revoke`: join tokens, with which a VM's sluice-proxy proves
// who it is on its first contact with the control plane (SPIRE's `token generate`,
// kubeadm's `token create`). `create` prints the token file the proxy reads (or writes it
// with --out, mode 0600): the token once, the identity it is bound to, and the trust bundle
// to check the control plane with. With --print-install it prints instead the script that
// installs that Workload's proxy on its VM (print/vm-install.ts): the release archive, the
// token, the systemd unit and its flags.

import { chmodSync, writeFileSync } from 'node:fs';
import type { KindNames } from '../../api/kind-names.ts';
import type { Resource } from '../../api/resource.ts';
import { formatTokenFile } from '../../../xds/token-file.ts';
import { UsageError, type Command } from '../command.ts';
import { ageOf, formatTable } from '../print/table.ts';
import { formatVmInstall } from '../print/vm-install.ts';
import { CONNECTION_OPTIONS, withClient } from '../server-config.ts';
import { findKind } from '../../api/kind-names.ts';
import { CLIENT_VERSION } from './version.ts';

/**
 * Where the join-token API lives, in the shape the API client builds paths from. Tokens
 * are not a kind of the API (no schema, not applied), so this is no entry of descriptors.ts.
 */
const JOIN_TOKENS = { group: 'ca.sluice.dev', version: 'v1', kind: 'JoinToken', plural: 'jointokens', scope: 'Namespaced' } as Partial<KindNames<unknown>> as KindNames<unknown>;

/** What the API answers (apiserver/tokens.ts JoinTokenView), plus the token and bundle on create. */
type TokenView = {
  metadata: { name: string; namespace: string; creationTimestamp: string };
  spec: { workload: string; identity: string; expiresAt: string };
  status: { state: string; usedAt?: string; revokedAt?: string };
  token?: string;
  trustBundle?: string;
};

const namespaceOf = (flag: unknown) => (typeof flag === 'string' ? flag : 'default');

/** The archive `npm run package` makes for the VM's architecture (x64 unless --artifact names another). */
const DEFAULT_ARTIFACT = `sluice-${CLIENT_VERSION}-linux-x64.tar.gz`;
/** sluice-cp's default --xds-addr port. */
const XDS_PORT = 15012;

type InstallPlan = { apps: Record<string, number>; ports: Record<string, number>; controlPlane: string; artifact: string };

/**
 * Checks --print-install's flags against the Workload before a token is minted: a refusal
 * must not leave a live token behind. Every port of the Workload needs its app's port.
 */
async function planInstall(flags: Record<string, unknown>, workload: { spec?: { ports?: Record<string, number> } }, server: string): Promise<InstallPlan> {
  const ports = workload.spec?.ports ?? {};
  const apps: Record<string, number> = {};
  for (const a of (flags.app as string[] | undefined) ?? []) {
    const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)=(\d{1,5})$/.exec(a);
    if (m === null || Number(m[3]) < 1 || Number(m[3]) > 65535) throw new UsageError(`--app: '${a}' is not NAME=PORT (a port name of the Workload and the app's local port, e.g. http=8080)`);
    if (!(m[1] in ports)) throw new UsageError(`--app ${a}: the Workload has no port named ${m[1]} (its ports: ${Object.keys(ports).sort().join(', ') || 'none'})`);
    apps[m[1]] = Number(m[3]);
  }
  const missing = Object.keys(ports).sort().filter((n) => !(n in apps));
  if (missing.length > 0) throw new UsageError(`--print-install needs the app's local port for each port of the Workload: ${missing.map((n) => `--app ${n}=PORT (the proxy takes ${ports[n]})`).join(', ')}`);
  // By default the host the API is reached on; a VM elsewhere may need another name for it.
  const controlPlane = typeof flags['control-plane'] === 'string' ? flags['control-plane'] : `${new URL(server).hostname}:${XDS_PORT}`;
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(controlPlane)) throw new UsageError(`--control-plane: '${controlPlane}' is not HOST:PORT (the control plane's xDS address as the VM reaches it, e.g. cp.mesh.internal:15012)`);
  const artifact = typeof flags.artifact === 'string' ? flags.artifact : DEFAULT_ARTIFACT;
  return { apps, ports, controlPlane, artifact };
}

export const tokenCreate: Command = {
  words: ['token', 'create'],
  usage: 'sluicectl token create --workload NAME [-n NS] [--ttl 1h] [--out FILE | --print-install --app NAME=PORT... [--control-plane HOST:PORT] [--artifact FILE|URL]]',
  summary: "mint a single-use join token for a Workload's proxy; prints the token file (or writes it 0600 with --out), or with --print-install the script that installs the proxy on the Workload's VM under systemd",
  examples: [
    'sluicectl token create --workload orders-vm-1 -n shop',
    'sluicectl token create --workload orders-vm-1 -n shop --ttl 30m --out orders-vm-1.token',
    'sluicectl token create --workload orders-vm-1 -n shop --print-install --app http=8080 --control-plane cp.mesh.internal:15012 > install-orders-vm-1.sh',
  ],
  options: {
    workload: { type: 'string' },
    namespace: { type: 'string', short: 'n' },
    ttl: { type: 'string' },
    out: { type: 'string' },
    'print-install': { type: 'boolean' },
    app: { type: 'string', multiple: true },
    'control-plane': { type: 'string' },
    artifact: { type: 'string' },
    ...CONNECTION_OPTIONS,
  },
  required: ['workload'],
  positionals: 0,
  async run({ flags, ctx }) {
    const namespace = namespaceOf(flags.namespace);
    const install = flags['print-install'] === true;
    if (install && flags.out !== undefined) throw new UsageError('--out and --print-install exclude each other: the install script carries the token');
    if (!install) for (const f of ['app', 'control-plane', 'artifact']) if (flags[f] !== undefined) throw new UsageError(`--${f} applies with --print-install only`);
    const body = { apiVersion: 'ca.sluice.dev/v1', kind: 'JoinToken', metadata: { name: '', namespace }, workload: String(flags.workload), ...(flags.ttl === undefined ? {} : { ttl: String(flags.ttl) }) };
    const minted = await withClient(flags, ctx, async (api) => {
      // The Workload is read first: a bad --app is refused before any token exists.
      const plan = install ? await planInstall(flags, (await api.get(findKind('Workload')!, namespace, String(flags.workload))) as { spec?: { ports?: Record<string, number> } }, api.server) : null;
      return { plan, created: await api.create(JOIN_TOKENS, body as unknown as Resource) };
    });
    const t = minted.created as unknown as TokenView;
    if (t.token === undefined || t.trustBundle === undefined) throw new Error('the control plane answered without a token; is it a version that mints join tokens?');
    const text = formatTokenFile({ token: t.token, identity: t.spec.identity, bundle: t.trustBundle }, { workload: t.spec.workload, namespace: t.metadata.namespace, expiresAt: t.spec.expiresAt });
    if (minted.plan !== null) {
      ctx.stdout(formatVmInstall({ workload: t.spec.workload, namespace: t.metadata.namespace, ...minted.plan, tokenFile: text, expiresAt: t.spec.expiresAt }));
      return 0;
    }
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
