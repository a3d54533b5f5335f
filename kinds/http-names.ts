// Header-name pattern and HTTP methods, apart from schema-kit.ts (which re-exports them) so
// that a proxy's xDS translators read them without loading the schema library (typebox).

/** RFC 9110 token, as Gateway API's HTTPHeaderName. */
export const HEADER_NAME_PATTERN = "^[-!#$%&'*+.^_`|~0-9A-Za-z]+$";

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
