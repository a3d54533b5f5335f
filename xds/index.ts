// xds/: the wire both sides speak (DESIGN: proxy <-> control plane is xDS v3 over gRPC).
// Proto loading, type URLs and Any packing; the ADS server lives in control-plane/xds/,
// the client in proxy/xds/.

export { adsPackageDefinition, envoyTypes, PROTO_FILES, PROTO_INCLUDE_DIRS } from './protos.ts';
export { EMBEDDED_TYPE_URLS, messageNameOf, PUSH_ORDER, TYPE_URLS, type ResourceTypeName, type TypeUrl } from './type-urls.ts';
export { pack, unpack, type PackedAny, type Unpacked } from './any.ts';
export { CA_BUNDLE_ENV, CERTIFICATE_SERVICE, CERTIFY_PATH, ERROR_CODE_METADATA, requestCodec, responseCodec, type CertificateRequest, type CertificateResponse } from './ca-service.ts';
export { formatTokenFile, parseTokenFile, splitJoinToken, type TokenFile, type TokenFileHeader } from './token-file.ts';
