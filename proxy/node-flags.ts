// How sluice-proxy wants Node to run, in one place: main.ts's shebang carries the same
// flags, and everything that spawns the proxy (tests, demo, bench) uses this list.
//
// A 1 MiB young-generation semi-space makes V8 collect streamed body chunks soon after
// they are forwarded; with the default (16 MiB+), a 1 GiB upload holds ~90 MiB of garbage.
export const PROXY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/**
 * NODE_COMPILE_CACHE keeps the type-stripped sources, so a warm start never loads Node's
 * TypeScript stripper (a wasm module whose memory, ~35 MiB, is never given back).
 */
export function proxyEnv(cacheDir: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, NODE_COMPILE_CACHE: env.NODE_COMPILE_CACHE ?? cacheDir };
}
