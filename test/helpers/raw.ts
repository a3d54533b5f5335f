// Raw bytes on a socket: for input no well-behaved client would ever send.

import net from 'node:net';

export type RawResult = { response: string; closed: boolean };

/** Writes `bytes`, collects whatever comes back until the peer closes or `waitMs` passes. */
export function sendRaw(port: number, bytes: string | Buffer, waitMs = 1000): Promise<RawResult> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let response = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d) => (response += d.toString('latin1')));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}

export function statusOf(response: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(response);
  return m ? Number(m[1]) : 0;
}
