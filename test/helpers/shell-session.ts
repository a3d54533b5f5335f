// One bash, fed one command at a time as a reader types them into a terminal: `export`
// and `cd` carry over, `cmd &` starts a job (`set -m`: each job is its own process group,
// so `kill %1` and the cleanup reach npx and the node it runs). After each command bash
// prints a marker with `$?` and `$!`, which is how a command's end, status and job pid
// are read. stop() kills every job still running, by its process group, and ends bash.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export type CommandResult = { readonly status: number; readonly stdout: string; readonly stderr: string };

const MARK = '__readme_test_marker__';

export class ShellSession {
  readonly #bash: ChildProcess;
  #out = '';
  #err = '';
  readonly #jobs: number[] = [];
  readonly #exited: Promise<void>;

  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    this.#bash = spawn('bash', ['--noprofile', '--norc'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#bash.stdout!.setEncoding('utf8').on('data', (d: string) => (this.#out += d));
    this.#bash.stderr!.setEncoding('utf8').on('data', (d: string) => (this.#err += d));
    this.#exited = new Promise((resolve) => this.#bash.once('exit', () => resolve()));
    this.#bash.stdin!.write('set -m\n');
  }

  /** Everything bash and its jobs wrote to stderr so far. */
  get stderr(): string {
    return this.#err;
  }

  /** Job pids (and process groups) started with `&`. */
  get jobs(): readonly number[] {
    return this.#jobs;
  }

  /**
   * Types `command` and waits for its end (for `cmd &`, for the job to start, and then for
   * `ready` on stderr: the ready log line a reader waits for before typing on).
   */
  async run(command: string, opts: { timeoutMs: number; ready?: RegExp }): Promise<CommandResult & { pid?: number }> {
    const outFrom = this.#out.length;
    const errFrom = this.#err.length;
    this.#bash.stdin!.write(`${command}\nprintf '\\n${MARK} %s %s\\n' "$?" "$!"\n`);
    const deadline = Date.now() + opts.timeoutMs;
    const marker = new RegExp(`\\n${MARK} (\\d+) (\\d*)\\n`);
    let m: RegExpExecArray | null = null;
    while ((m = marker.exec(this.#out.slice(outFrom))) === null) {
      if (this.#bash.exitCode !== null) throw new Error(`bash exited (${this.#bash.exitCode}) during: ${command}\nstderr:\n${this.#err.slice(errFrom)}`);
      if (Date.now() > deadline) throw new Error(`not done within ${opts.timeoutMs} ms: ${command}\nstdout:\n${this.#out.slice(outFrom)}\nstderr:\n${this.#err.slice(errFrom)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const stdout = this.#out.slice(outFrom, outFrom + m.index);
    // The marker's line is consumed, so the next command's output starts after it.
    this.#out = this.#out.slice(0, outFrom + m.index) + this.#out.slice(outFrom + m.index + m[0].length);
    const result = { status: Number(m[1]), stdout, stderr: '' };
    if (opts.ready === undefined) return { ...result, stderr: this.#err.slice(errFrom) };
    const pid = Number(m[2]);
    this.#jobs.push(pid);
    while (!opts.ready.test(this.#err.slice(errFrom))) {
      if (!alive(pid)) throw new Error(`the job of '${command}' (pid ${pid}) ended before its ready line ${opts.ready}; stderr:\n${this.#err.slice(errFrom)}`);
      if (Date.now() > deadline) throw new Error(`no ready line ${opts.ready} within ${opts.timeoutMs} ms from: ${command}\nstderr:\n${this.#err.slice(errFrom)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { ...result, stderr: this.#err.slice(errFrom), pid };
  }

  /** Waits until every job's process group is gone; the pids still there after `timeoutMs`. */
  async jobsGone(timeoutMs: number): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = this.#jobs.filter(alive);
      if (left.length === 0 || Date.now() > deadline) return left;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * SIGTERM to every job's process group still there, and to a command still running in
   * the foreground (a test that failed on a timeout), SIGKILL 10 s later, then bash ends.
   */
  async stop(): Promise<void> {
    // Under `set -m` every command bash starts, foreground or not, leads its own process group.
    for (const pid of children(this.#bash.pid!)) if (!this.#jobs.includes(pid)) this.#jobs.push(pid);
    for (const pid of this.#jobs.filter(alive)) signal(pid, 'SIGTERM');
    const left = await this.jobsGone(10_000);
    for (const pid of left) signal(pid, 'SIGKILL');
    await this.jobsGone(5_000);
    this.#bash.stdin!.end();
    const timer = setTimeout(() => this.#bash.kill('SIGKILL'), 5_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** The pids bash started that are still its children (Linux's /proc). */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((p) => p !== '').map(Number);
  } catch {
    return [];
  }
}

/** Whether anything of the process group `pgid` is still running. */
function alive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signal(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // gone in between
  }
}
