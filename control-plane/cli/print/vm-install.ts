// The install script `sluicectl token create --print-install` prints: every step that takes
// a VM with no Node and no clone to a joined sluice-proxy under systemd, for one Workload.
// It unpacks the release archive (npm run package) to /opt/sluice, writes the join token
// where the unit reads it (/etc/sluice/join-token, root only: systemd hands the service a
// copy through LoadCredential), the unit's flags for this Workload, then enables the unit.
// Each path here is one the unit in deploy/vm/sluice-proxy.service names.

export type VmInstall = {
  readonly workload: string;
  readonly namespace: string;
  /** The Workload's ports by Service port name: the proxy's inbound ports. */
  readonly ports: Readonly<Record<string, number>>;
  /** Service port name -> the local port the app serves it on (--app). */
  readonly apps: Readonly<Record<string, number>>;
  /** host:port of the control plane's xDS and certificate service, as the VM reaches it. */
  readonly controlPlane: string;
  /** The release archive: a file name (next to the script on the VM) or an http(s) URL. */
  readonly artifact: string;
  /** The token file text (xds/token-file.ts). */
  readonly tokenFile: string;
  readonly expiresAt: string;
};

/** Arguments the unit's environment file may carry: no quote, no `$`, no newline. */
const SAFE = /^[A-Za-z0-9._:\/=@\[\]-]+$/;

export function formatVmInstall(v: VmInstall): string {
  for (const value of [v.controlPlane, v.artifact]) if (!SAFE.test(value)) throw new Error(`'${value}' cannot be written into an install script: use letters, digits and . _ : / = @ [ ] - only`);
  const url = /^https?:\/\//.test(v.artifact);
  const file = url ? v.artifact.slice(v.artifact.lastIndexOf('/') + 1) : v.artifact;
  const names = Object.keys(v.ports).sort();
  const appArgs = names.map((n) => `--app ${n}=${v.apps[n]}`).join(' ');
  const script = 'install-' + v.workload + '.sh';
  return [
    '#!/bin/sh',
    `# sluice-proxy for Workload ${v.namespace}/${v.workload}, under systemd, from the release archive.`,
    `# Run it as root on the VM${url ? '' : `, in the folder holding ${file}`}: sh ${script}`,
    `# It carries a join token (single use, expires ${v.expiresAt}): keep it secret, delete it once run.`,
    'set -eu',
    '',
    `# 1. The archive, with its own Node 24, unpacked to /opt/sluice.`,
    ...(url ? [`curl -fsSLo ${file} ${v.artifact}`] : []),
    'mkdir -p /opt/sluice',
    `tar -xzf ${file} -C /opt/sluice --strip-components=1`,
    '',
    '# 2. The join token, where the unit reads it (root only).',
    'umask 077',
    'mkdir -p /etc/sluice',
    "cat > /etc/sluice/join-token <<'SLUICE_TOKEN'",
    v.tokenFile.replace(/\n*$/, ''),
    'SLUICE_TOKEN',
    '',
    `# 3. The unit and its flags for ${v.workload}.`,
    ...(names.length === 0
      ? ['#    The Workload has no ports: its proxy only carries its app\'s outbound calls.']
      : names.map((n) => `#    port ${n}: the proxy listens on ${v.ports[n]} (the Workload's port), the app on local port ${v.apps[n]}`)),
    "cat > /etc/sluice/sluice-proxy.env <<'SLUICE_ENV'",
    `SLUICE_CONTROL_PLANE=${v.controlPlane}`,
    `SLUICE_PROXY_ARGS=${appArgs}`,
    'SLUICE_ENV',
    'umask 022',
    'install -m 0644 /opt/sluice/deploy/vm/sluice-proxy.service /etc/systemd/system/sluice-proxy.service',
    '',
    '# 4. Started now and at each boot; a restart rejoins with the identity kept in /var/lib/sluice-proxy.',
    'systemctl daemon-reload',
    'systemctl enable --now sluice-proxy',
    '',
  ].join('\n');
}
