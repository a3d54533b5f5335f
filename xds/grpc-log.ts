// grpc-js prints its own errors with console.error ("E No address added out of total 1
// resolved"), a line that is not JSON in a log a shipper reads as JSON lines. Each program
// hands grpc-js its logger instead, once, at start.

import * as grpc from '@grpc/grpc-js';

type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export function routeGrpcLogs(log: Log): void {
  const line = (level: 'info' | 'warn' | 'error') => (...args: unknown[]) => log(level, 'grpc-js', { message: args.map(String).join(' ').trim() });
  grpc.setLogger({ error: line('warn'), info: line('info'), debug: line('info') } as unknown as Partial<Console>);
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
}
