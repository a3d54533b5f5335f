// Starts an installed systemd service unit the way systemd would, for machines where
// systemd is not PID 1 (CI, containers): the [Service] section's EnvironmentFile=,
// Environment=, LoadCredential= (copied into a credentials folder, %d), StateDirectory=
// and CacheDirectory= (made; %S, %C), WorkingDirectory= and ExecStart= with systemd's
// variable rules (`${VAR}` one word, `$VAR` split on whitespace). Everything is under a
// fake root folder: an absolute path P in the unit is read as ROOT/P. The sandboxing lines
// (DynamicUser=, Protect*=) are systemd's to enforce and are checked by
// systemd-analyze verify (test/deploy/vm-units.test.ts), not here.

import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export type UnitProcess = {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr(): string;
  waitForLog(pattern: RegExp, timeoutMs: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

/** The [Service] section's settings, each key with every value it was given, in order. */
export function serviceSettings(unitText: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of unitText.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      section = header[1];
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`not KEY=VALUE in [Service]: ${line}`);
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  return settings;
}

/** KEY=VALUE lines of an EnvironmentFile (comments and blank lines skipped). */
function readEnvironmentFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m !== null && !line.trimStart().startsWith('#')) env[m[1]] = m[2].trim();
  }
  return env;
}

/** ExecStart's words: `${VAR}` stays one word, `$VAR` alone as a word splits on whitespace. */
function execWords(line: string, env: Record<string, string>): string[] {
  const words: string[] = [];
  for (const word of line.trim().split(/\s+/)) {
    const bare = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (bare !== null) words.push(...(env[bare[1]] ?? '').split(/\s+/).filter((w) => w !== ''));
    else words.push(word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, v: string) => env[v] ?? ''));
  }
  return words;
}

/** Starts `ROOT/etc/systemd/system/NAME.service` as systemd would; PATH is `path` only. */
export function startUnit(root: string, name: string, opts: { path: string }): UnitProcess {
  const unitFile = join(root, 'etc', 'systemd', 'system', `${name}.service`);
  const s = serviceSettings(readFileSync(unitFile, 'utf8'));
  const one = (key: string) => s.get(key)?.at(-1);
  const inRoot = (p: string) => join(root, p);
  const credentials = inRoot(`/run/credentials/${name}.service`);
  const specifiers = (v: string) => v.replaceAll('%S', '/var/lib').replaceAll('%C', '/var/cache').replaceAll('%d', `/run/credentials/${name}.service`).replaceAll('%%', '%');
  mkdirSync(credentials, { recursive: true, mode: 0o700 });
  for (const c of s.get('LoadCredential') ?? []) {
    const [id, from] = c.split(':');
    copyFileSync(inRoot(from), join(credentials, id));
  }
  for (const d of s.get('StateDirectory') ?? []) mkdirSync(inRoot(`/var/lib/${d}`), { recursive: true, mode: 0o700 });
  for (const d of s.get('CacheDirectory') ?? []) mkdirSync(inRoot(`/var/cache/${d}`), { recursive: true, mode: 0o700 });
  const env: Record<string, string> = { PATH: opts.path };
  for (const e of s.get('Environment') ?? []) {
    const eq = e.indexOf('=');
    env[e.slice(0, eq)] = specifiers(e.slice(eq + 1));
  }
  for (const f of s.get('EnvironmentFile') ?? []) {
    const optional = f.startsWith('-');
    const path = inRoot(optional ? f.slice(1) : f);
    if (existsSync(path)) Object.assign(env, readEnvironmentFile(path));
    else if (!optional) throw new Error(`${name}.service: EnvironmentFile ${f} is missing (systemd would refuse to start it)`);
  }
  // Paths the program is given are the fake root's: systemd's own (%S, %C, %d) and those in the unit.
  for (const key of Object.keys(env)) if (key === 'NODE_COMPILE_CACHE') env[key] = inRoot(env[key]);
  const exec = one('ExecStart');
  if (exec === undefined) throw new Error(`${name}.service has no ExecStart`);
  const [program, ...args] = execWords(specifiers(exec), env).map((w) => (w.startsWith(`/run/credentials/${name}.service/`) ? inRoot(w) : w));
  const cwd = inRoot(specifiers(one('WorkingDirectory') ?? '/'));
  const child = spawn(inRoot(program), args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal === null ? null : -1))));
  return {
    child,
    exited,
    stderr: () => err,
    async waitForLog(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = err.split('\n').find((l) => pattern.test(l));
        if (line !== undefined) return line;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${basename(program)} exited (${child.exitCode ?? child.signalCode}) before logging ${pattern}; stderr:\n${err}`);
        if (Date.now() > deadline) throw new Error(`${basename(program)} logged nothing matching ${pattern} in ${timeoutMs} ms; stderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
