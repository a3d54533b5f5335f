// Raw bytes on a socket: for input no well-behaved client would ever send.

import net from 'node:net';

export type RawResult = { response: string; closed: boolean };

/** Writes `bytes`, collects whatever comes back until the peer closes or `waitMs` passes. */
export async function sendRaw(port: number, bytes: string | Buffer, waitMs = 1000): Promise<RawResult> {
  const { data, closed } = await sendBytes(port, typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, waitMs);
  return { response: data.toString('latin1'), closed };
}

/** sendRaw for binary protocols (HTTP/2 frames): the answer as bytes. */
export function sendBytes(port: number, bytes: Buffer, waitMs = 1000): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(bytes);
  });
}

export function statusOf(response: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(response);
  return m ? Number(m[1]) : 0;
}
