// The original destination of a connection iptables REDIRECTed to us:
// getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, struct sockaddr_in *, 16). Node has no API for it;
// koffi (prebuilt, no compiler at install) calls libc's getsockopt. Linux and IPv4 only.
// koffi and libc are loaded on first use, so a proxy that never captures never loads them.

import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

const SOL_IP = 0;
const SO_ORIGINAL_DST = 80;
const SOCKADDR_IN_SIZE = 16;

export type OriginalDst = { readonly address: string; readonly port: number };

type GetSockOpt = (fd: number, level: number, name: number, value: Buffer, len: number[]) => number;
type Errno = () => number;

let loaded: { getsockopt: GetSockOpt; errno: Errno } | string | null = null;

function load(): { getsockopt: GetSockOpt; errno: Errno } | string {
  if (loaded !== null) return loaded;
  if (process.platform !== 'linux') return (loaded = `SO_ORIGINAL_DST is Linux's; this is ${process.platform}: transparent capture needs Linux`);
  try {
    const koffi = createRequire(import.meta.url)('koffi');
    const libc = koffi.load('libc.so.6');
    const getsockopt = libc.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *len)');
    loaded = { getsockopt, errno: () => koffi.errno() as number };
  } catch (err) {
    loaded = `cannot load getsockopt from libc with koffi: ${(err as Error).message}`;
  }
  return loaded;
}

/** null when capture cannot work on this machine, or why not. */
export function originalDstUnavailable(): string | null {
  const l = load();
  return typeof l === 'string' ? l : null;
}

/**
 * The address and port the client dialled before iptables redirected it; for a connection
 * that was not redirected, the socket's own local address. A string says why it cannot be read.
 */
export function originalDst(socket: Socket): OriginalDst | string {
  const l = load();
  if (typeof l === 'string') return l;
  const fd = (socket as Socket & { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return 'the socket has no file descriptor (closed already, or not a TCP socket)';
  const buf = Buffer.alloc(SOCKADDR_IN_SIZE);
  const len = [SOCKADDR_IN_SIZE];
  if (l.getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, buf, len) !== 0) return `getsockopt(SO_ORIGINAL_DST) failed: errno ${l.errno()}`;
  // struct sockaddr_in: family (host order), port and address in network order.
  const port = buf.readUInt16BE(2);
  const address = `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`;
  return { address, port };
}
