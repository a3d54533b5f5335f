// Expected failures are values, as in the proxy (proxy/errors.ts): certs/ imports nothing
// from either side, so it carries its own copy of the one type.
export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };
