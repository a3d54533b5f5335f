// Sites for multi-zone tests: one network namespace per site, each joined to a "wan"
// namespace's bridge by a veth pair and to nothing else (no route out of the machine). A
// site's firewall lets in, from the wan, only the TCP ports it opens (a zone its ingress,
// the global its control-plane port) and the answers to connections it made; everything
// else is refused. `cut` and `heal` drop and restore the traffic between two sites, for
// partitions. Root only (netnsMissing() says why a test must skip).

import { deleteNetns, makeNetns, sh, type Netns } from './netns.ts';
import { randomBytes } from 'node:crypto';

export type Site = Netns & {
  /** Its address on the wan (10.77.0.<n>). */
  readonly address: string;
  /** Its end of the veth pair to the wan. */
  readonly link: string;
};

export type Sites = {
  readonly sites: ReadonlyMap<string, Site>;
  site(name: string): Site;
  /** Drops every packet between two sites, both ways, until `heal`. */
  cut(a: string, b: string): void;
  heal(a: string, b: string): void;
  /** Deletes every namespace (and with them the links and rules). */
  destroy(): void;
};

const WAN_PREFIX = '10.77.0';

/**
 * Makes the sites, each opening the ports `open[name]` to the wan (none when absent). Site
 * addresses are 10.77.0.1, .2, ... in the order given.
 */
export function makeSites(names: readonly string[], open: Readonly<Record<string, readonly number[]>>): Sites {
  const made: Netns[] = [];
  try {
    const wan = makeNetns('wan');
    made.push(wan);
    wan.exec('ip', ['link', 'add', 'br0', 'type', 'bridge']);
    wan.exec('ip', ['link', 'set', 'br0', 'up']);
    const sites = new Map<string, Site>();
    names.forEach((name, i) => {
      const ns = makeNetns(name);
      made.push(ns);
      const suffix = randomBytes(3).toString('hex');
      const [inSite, inWan] = [`sw${suffix}`, `sb${suffix}`];
      sh('ip', ['link', 'add', inSite, 'type', 'veth', 'peer', 'name', inWan]);
      sh('ip', ['link', 'set', inSite, 'netns', ns.name]);
      sh('ip', ['link', 'set', inWan, 'netns', wan.name]);
      wan.exec('ip', ['link', 'set', inWan, 'master', 'br0']);
      wan.exec('ip', ['link', 'set', inWan, 'up']);
      const address = `${WAN_PREFIX}.${i + 1}`;
      ns.exec('ip', ['addr', 'add', `${address}/24`, 'dev', inSite]);
      ns.exec('ip', ['link', 'set', inSite, 'up']);
      firewall(ns, inSite, open[name] ?? []);
      sites.set(name, { ...ns, address, link: inSite });
    });
    const site = (name: string): Site => {
      const s = sites.get(name);
      if (s === undefined) throw new Error(`no site '${name}'; the sites are ${[...sites.keys()].join(', ')}`);
      return s;
    };
    const partition = (verb: '-I' | '-D', a: string, b: string) => {
      for (const [from, to] of [[a, b], [b, a]]) {
        for (const chain of ['INPUT', 'OUTPUT']) {
          const peer = chain === 'INPUT' ? '-s' : '-d';
          site(from).exec('iptables', [verb, chain, peer, site(to).address, '-j', 'DROP']);
        }
      }
    };
    return {
      sites,
      site,
      cut: (a, b) => partition('-I', a, b),
      heal: (a, b) => partition('-D', a, b),
      destroy: () => deleteNetns(...made),
    };
  } catch (err) {
    deleteNetns(...made);
    throw err;
  }
}

/** From the wan: the answers to this site's own connections, and new connections to `ports` only. */
function firewall(ns: Netns, link: string, ports: readonly number[]): void {
  ns.exec('iptables', ['-A', 'INPUT', '-i', link, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
  for (const port of ports) ns.exec('iptables', ['-A', 'INPUT', '-i', link, '-p', 'tcp', '--dport', String(port), '-j', 'ACCEPT']);
  ns.exec('iptables', ['-A', 'INPUT', '-i', link, '-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset']);
  ns.exec('iptables', ['-A', 'INPUT', '-i', link, '-j', 'DROP']);
}
