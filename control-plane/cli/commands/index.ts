// The command table: one entry per verb, in the order `sluicectl help` lists them.

import type { Command } from '../command.ts';
import { apiResources } from './api-resources.ts';
import { apply } from './apply.ts';
import { bootstrapGrpc } from './bootstrap.ts';
import { caCreate, caInspect, caIssue } from './ca.ts';
import { check } from './check.ts';
import { completion } from './completion.ts';
import { del } from './delete.ts';
import { describe } from './describe.ts';
import { diff } from './diff.ts';
import { explain } from './explain.ts';
import { get } from './get.ts';
import { proxyConfig } from './proxy-config.ts';
import { proxyStatus } from './proxy-status.ts';
import { stat, top } from './stat.ts';
import { dashboard } from './dashboard.ts';
import { tokenCreate, tokenList, tokenRevoke } from './token.ts';
import { version } from './version.ts';
import { zoneTokenCreate } from './zone.ts';

export const COMMANDS: readonly Command[] = [
  // Resources first: what an operator runs every day.
  apply,
  diff,
  get,
  describe,
  del,
  check, // is the mesh healthy: the first verb to run when something is wrong
  apiResources, // which kinds `get` takes, and by which names
  // What the proxies hold.
  proxyStatus,
  proxyConfig,
  // What the traffic does: golden metrics per Service and edge.
  stat,
  top,
  dashboard, // the same, and the mesh's graph, in a browser
  explain, // why one request failed: the proxies' reports joined with the control plane's view
  // Offline CA operations: no control plane needed.
  caCreate,
  caIssue,
  caInspect,
  // What a client of the mesh needs to join it.
  bootstrapGrpc,
  tokenCreate, tokenList, tokenRevoke, // a VM's proxy joins with a token
  zoneTokenCreate, // a zone's control plane enrolls with the global
  version,
  completion, // the shell's side of the verbs above
];
