// Does redirection really work? A proxy in capture mode dials the probe address
// (127.0.0.254:15002 by default), which `capture install` redirects to the outbound
// capture port for every user, the proxy's own included. Only this proxy's virtualOutbound,
// reading that original destination, answers with its pid: any other outcome (refused,
// nothing, another answer) means the rules are missing or not in this network namespace
// (the CNI/iptables race), and the proxy stays unready, saying why on /healthz/ready.

import net from 'node:net';
import type { CaptureProbe } from './dispatch.ts';
import { originalDstUnavailable } from './original-dst.ts';

export const probeAnswer = (pid: number): string => `sluice-proxy capture probe ${pid}\n`;

export function captureProbe(address: string, port: number, pid: number): CaptureProbe {
  return { address, port, answer: probeAnswer(pid) };
}

/** null when a connection to the probe address reached this proxy's capture listener; else why not. */
export function checkRedirect(probe: CaptureProbe, timeoutMs = 2000): Promise<string | null> {
  const unavailable = originalDstUnavailable();
  if (unavailable !== null) return Promise.resolve(unavailable);
  const where = `${probe.address}:${probe.port}`;
  return new Promise((resolve) => {
    let got = '';
    let done = false;
    const finish = (why: string | null) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(why);
    };
    const socket = net.connect({ host: probe.address, port: probe.port, timeout: timeoutMs });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (got += d));
    socket.on('end', () => finish(got === probe.answer ? null : `a connection to the probe address ${where} was answered by something other than this proxy (${JSON.stringify(got.slice(0, 60))}): the capture rules do not redirect to it`));
    socket.on('timeout', () => finish(`no answer from the probe address ${where} in ${timeoutMs} ms: the capture rules are not installed in this network namespace (sluice-proxy capture install)`));
    socket.on('error', (e: Error & { code?: string }) => finish(`connecting to the probe address ${where} failed (${e.code ?? e.message}): the capture rules are not installed in this network namespace (sluice-proxy capture install)`));
  });
}
