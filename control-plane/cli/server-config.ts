// Where the control plane is and how to prove who we are, first found wins: the flags
// (--server, --token-file, --ca-file), then the environment (SLUICE_SERVER,
// SLUICE_TOKEN_FILE, SLUICE_CA_FILE), then ~/.sluice/config (YAML: server, tokenFile,
// caFile), then the default server http://127.0.0.1:15014 with no token. Each value keeps
// where it came from, so an error can name the place to fix.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { didYouMean } from '../../kinds/did-you-mean.ts';
import { lazy } from './lazy.ts';
import type { ApiClient, Connection } from './client.ts';
import { UsageError, type FlagValue } from './command.ts';
import type { CliContext } from './context.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:15014';

/** The flags every verb that talks to the control plane takes. */
export const CONNECTION_OPTIONS = {
  server: { type: 'string' },
  'token-file': { type: 'string' },
  'ca-file': { type: 'string' },
} as const;

export type Setting = {
  readonly value: string;
  /** `--server`, `SLUICE_SERVER`, `~/.sluice/config`, or `default`. */
  readonly from: string;
};

export type ServerConfig = { readonly server: Setting; readonly tokenFile?: Setting; readonly caFile?: Setting };

// Loaded only when there is a config file to read: most runs have none.
const yaml = lazy<typeof import('yaml')>(import.meta.url, 'yaml');

type ConfigFile = { server?: string; tokenFile?: string; caFile?: string };
const CONFIG_KEYS = ['server', 'tokenFile', 'caFile'] as const;

/** Resolves the three settings; reads ~/.sluice/config (if it exists) but not the files it names. */
export function resolveServerConfig(flags: Record<string, FlagValue>, env: CliContext['env'], home: string): ServerConfig {
  const file = readConfigFile(home);
  const pick = (flag: string, variable: string, key: keyof ConfigFile): Setting | undefined => {
    const f = flags[flag];
    if (typeof f === 'string' && f !== '') return { value: f, from: `--${flag}` };
    const e = env[variable];
    if (e !== undefined && e !== '') return { value: e, from: variable };
    const c = file?.values[key];
    return c === undefined ? undefined : { value: c, from: file!.label };
  };
  const server = pick('server', 'SLUICE_SERVER', 'server') ?? { value: DEFAULT_SERVER, from: 'default' };
  checkServerUrl(server);
  return { server, tokenFile: pick('token-file', 'SLUICE_TOKEN_FILE', 'tokenFile'), caFile: pick('ca-file', 'SLUICE_CA_FILE', 'caFile') };
}

/** Reads the token and CA files the settings name. */
export function loadConnection(config: ServerConfig): Connection {
  const token = config.tokenFile === undefined ? undefined : readSetting(config.tokenFile, 'token file').trim();
  if (token === '') throw new UsageError(`the token file ${config.tokenFile!.value} (from ${config.tokenFile!.from}) is empty`);
  const ca = config.caFile === undefined ? undefined : readSetting(config.caFile, 'CA file');
  if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`the CA file ${config.caFile!.value} (from ${config.caFile!.from}) holds no PEM certificate`);
  const tokenSource = config.tokenFile === undefined ? undefined : `${config.tokenFile.value} (from ${config.tokenFile.from})`;
  return { server: config.server.value, token, tokenSource, ca };
}

/** The client a verb uses, from its flags and the context; the caller closes it. */
export function connectFromFlags(flags: Record<string, FlagValue>, ctx: CliContext): ApiClient {
  return ctx.connect(loadConnection(resolveServerConfig(flags, ctx.env, ctx.home)));
}

/** Runs `fn` with a client and closes it however `fn` ends. */
export async function withClient<T>(flags: Record<string, FlagValue>, ctx: CliContext, fn: (api: ApiClient) => Promise<T>): Promise<T> {
  const api = connectFromFlags(flags, ctx);
  try {
    return await fn(api);
  } finally {
    await api.close();
  }
}

// --- ~/.sluice/config ---

function readConfigFile(home: string): { label: string; values: ConfigFile } | undefined {
  const path = join(home, '.sluice', 'config');
  if (!existsSync(path)) return undefined;
  const label = '~/.sluice/config';
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(readFileSync(path, 'utf8'), { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const at = lineCounter.linePos(e.pos[0]);
    throw new UsageError(`${path}: line ${at.line}, column ${at.col}: ${e.message}`);
  }
  const raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) return { label, values: {} };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`${path}: must be a mapping with ${CONFIG_KEYS.join(', ')}`);
  const values: ConfigFile = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      const hint = didYouMean(key, CONFIG_KEYS);
      throw new UsageError(`${path}: unknown key '${key}'; ${hint === undefined ? `known keys: ${CONFIG_KEYS.join(', ')}` : `did you mean '${hint}'?`}`);
    }
    if (typeof value !== 'string' || value === '') throw new UsageError(`${path}: ${key} must be a non-empty string`);
    // Paths in the file are relative to the file, as kubeconfig's are, so it works from any directory.
    values[key as keyof ConfigFile] = key === 'server' ? value : expandPath(value, home, dirname(path));
  }
  return { label, values };
}

function expandPath(value: string, home: string, base: string): string {
  if (value === '~' || value.startsWith('~/')) return join(home, value.slice(1));
  return isAbsolute(value) ? value : resolve(base, value);
}

function checkServerUrl(s: Setting): void {
  let url: URL | undefined;
  try {
    url = new URL(s.value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || (url.pathname !== '/' && url.pathname !== '') || url.search !== '') {
    throw new UsageError(`invalid server '${s.value}' (from ${s.from}): write it as http://HOST:PORT or https://HOST:PORT`);
  }
}

function readSetting(s: Setting, what: string): string {
  try {
    return readFileSync(s.value, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the ${what} ${s.value} (from ${s.from}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
