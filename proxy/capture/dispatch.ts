// What a use_original_dst listener does with each connection iptables sent it (Envoy's
// listener hand-off): read where it was going, answer the readiness probe, hand it to the
// unbound listener of the same direction at that address (or 0.0.0.0) and port, or keep it
// for its own chain (passthrough or black hole), which reads the destination from the socket.

import type { Socket } from 'node:net';
import type { Listener } from '../config/model.ts';
import { originalDst, type OriginalDst } from './original-dst.ts';

/** Where a captured connection was going, kept on its socket for an ORIGINAL_DST backend. */
export const ORIGINAL_DST = Symbol('sluice.originalDst');
export type WithOriginalDst = { [ORIGINAL_DST]?: OriginalDst };

/** The readiness probe's address (probe.ts): a connection that was going there is answered with `answer`. */
export type CaptureProbe = { readonly address: string; readonly port: number; readonly answer: string };

export type CaptureTarget = { readonly config: Listener; accept(socket: Socket): void };

/** The unbound listeners by `direction|address:port`, built once per config. */
export function captureTargets(listeners: Iterable<CaptureTarget>): Map<string, CaptureTarget> {
  const map = new Map<string, CaptureTarget>();
  for (const l of listeners) if (l.config.bindToPort === false) map.set(targetKey(l.config.direction, l.config.address, l.config.port), l);
  return map;
}

const targetKey = (direction: string | undefined, address: string, port: number) => `${direction ?? ''}|${address}:${port}`;

export type HandOff = { readonly kind: 'handed' | 'probe' } | { readonly kind: 'own' } | { readonly kind: 'refused'; readonly reason: string };

/**
 * Decides for one connection accepted by `from` (a use_original_dst listener). 'own': the
 * caller runs its own chain, with the destination on the socket.
 */
export function handOff(from: Listener, socket: Socket, targets: ReadonlyMap<string, CaptureTarget>, probe: CaptureProbe | null): HandOff {
  const dst = originalDst(socket);
  if (typeof dst === 'string') return { kind: 'refused', reason: `original destination unknown: ${dst}` };
  if (probe !== null && dst.address === probe.address && dst.port === probe.port) {
    socket.on('error', () => {});
    socket.end(probe.answer);
    return { kind: 'probe' };
  }
  // Not redirected (someone dialled the capture port itself): passing it on would dial this very listener again.
  if (dst.port === from.port && (dst.address === from.address || from.address === '0.0.0.0' || dst.address.startsWith('127.'))) {
    return { kind: 'refused', reason: `a connection to the capture port ${from.port} itself, not one iptables redirected (original destination ${dst.address}:${dst.port})` };
  }
  const target = targets.get(targetKey(from.direction, dst.address, dst.port)) ?? targets.get(targetKey(from.direction, '0.0.0.0', dst.port));
  (socket as Socket & WithOriginalDst)[ORIGINAL_DST] = dst;
  if (target === undefined) return { kind: 'own' };
  target.accept(socket);
  return { kind: 'handed' };
}
