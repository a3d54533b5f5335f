// A real Prometheus (Debian's `prometheus`) for a test: its own config and TSDB in a temp
// dir, on a 127.0.0.1 port, scraping every second; queried through its HTTP API.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort } from './ports.ts';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';

/** Why a Prometheus test cannot run here, or null when it can. */
export function prometheusMissing(): string | null {
  return existsSync(PROMETHEUS_BIN) ? null : `${PROMETHEUS_BIN} is not installed (Debian package prometheus; .ci/run installs it)`;
}

export type ScrapeJob = { readonly name: string; readonly path: string; readonly targets: readonly string[] };

export type Sample = { readonly metric: Record<string, string>; readonly value: number };

export type Prometheus = {
  readonly url: string;
  /** An instant query; throws with Prometheus's own error when the query is refused. */
  query(promql: string): Promise<Sample[]>;
  /** Queries until `ok` holds for the result, or fails naming the query and the last result. */
  until(promql: string, ok: (samples: Sample[]) => boolean, timeoutMs?: number): Promise<Sample[]>;
  stop(): Promise<void>;
};

export async function startPrometheus(jobs: readonly ScrapeJob[]): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-prometheus-'));
  const port = await closedPort();
  const config = [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    'scrape_configs:',
    ...jobs.map((j) => `  - job_name: ${JSON.stringify(j.name)}\n    metrics_path: ${JSON.stringify(j.path)}\n    static_configs: [{ targets: ${JSON.stringify(j.targets)} }]`),
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), `${config}\n`);
  const child: ChildProcess = spawn(PROMETHEUS_BIN, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus did not become ready on ${url}: ${stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const query = async (promql: string): Promise<Sample[]> => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`prometheus refused ${promql}: ${body.error}`);
    return body.data!.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  return {
    url,
    query,
    async until(promql, ok, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      let last: Sample[] = [];
      for (;;) {
        last = await query(promql);
        if (ok(last)) return last;
        if (Date.now() > end) throw new Error(`no answer to ${promql} met the test's condition in ${timeoutMs} ms; the last was ${JSON.stringify(last)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
