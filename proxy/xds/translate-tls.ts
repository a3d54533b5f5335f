// TLS as xDS says it: the DownstreamTlsContext of an mTLS listener chain, the
// UpstreamTlsContext of a cluster whose endpoints are peer proxies, and the ROOTCA Secret.
// The proxy's own certificate ('default') never travels over xDS: its key never leaves
// the proxy, so a context may only name it, and the caller supplies the files.

import { EMBEDDED_TYPE_URLS } from '../../xds/index.ts';
import type { BackendTls } from '../config/model.ts';
import { enumOf, message, readTyped, scalar, SDS_SECRET, WRAPPED, type Pb, type Shape, type Sink } from './shape.ts';
import type { Context } from './translate.ts';

export const TLS_SOCKET = 'envoy.transport_sockets.tls';
/** The proxy's own certificate, made and kept by the proxy. */
export const OWN_CERT = 'default';
export const ROOT_CA = 'ROOTCA';

const DOWNSTREAM_TLS = message({
  common_tls_context: message({ tls_certificate_sds_secret_configs: SDS_SECRET, validation_context_sds_secret_config: SDS_SECRET, alpn_protocols: scalar }),
  require_client_certificate: WRAPPED,
});

const UPSTREAM_TLS = message({
  sni: scalar,
  common_tls_context: message({
    tls_certificate_sds_secret_configs: SDS_SECRET,
    combined_validation_context: message({
      default_validation_context: message({ match_typed_subject_alt_names: message({ san_type: enumOf('URI'), matcher: message({ exact: scalar }) }) }),
      validation_context_sds_secret_config: SDS_SECRET,
    }),
    alpn_protocols: scalar,
  }),
});

export const SECRET = message({ name: scalar, validation_context: message({ trusted_ca: message({ inline_string: scalar }) }) });

/** The HTTP listener offers both, h2 first (proxy/listen/http-listener.ts); an opaque TCP one offers none. */
const HTTP_ALPN = ['h2', 'http/1.1'];

/** A listener chain's transport socket: checks it is the mTLS Sluice serves (client certificates required). */
export function checkDownstreamTls(socket: Pb, protocol: 'http' | 'tcp', ctx: Context, sink: Sink): void {
  const tls = readSocket(socket, EMBEDDED_TYPE_URLS.DownstreamTlsContext, DOWNSTREAM_TLS, ctx, sink);
  if (tls === undefined) return;
  const at = sink.at('typed_config');
  if (tls.require_client_certificate?.value !== true) at.add('require_client_certificate', 'must be true: a Sluice listener with TLS is mTLS (STRICT or PERMISSIVE)');
  const common: Pb = tls.common_tls_context ?? {};
  checkOwnCert(common.tls_certificate_sds_secret_configs, at.at('common_tls_context.tls_certificate_sds_secret_configs'));
  checkRootCa(common.validation_context_sds_secret_config, ctx, at.at('common_tls_context.validation_context_sds_secret_config'));
  const alpn: string[] = common.alpn_protocols ?? [];
  const wanted = protocol === 'http' ? HTTP_ALPN : [];
  if (alpn.length > 0 && (alpn.length !== wanted.length || !wanted.every((p) => alpn.includes(p)))) {
    const offers = protocol === 'http' ? `offers ${HTTP_ALPN.join(' and ')}` : 'offers no ALPN protocol';
    at.add('common_tls_context.alpn_protocols', `a Sluice ${protocol === 'http' ? 'HTTP' : 'TCP'} listener ${offers}; got ${alpn.join(', ')}`);
  }
}

/** A cluster's transport socket -> who the endpoints must be, and the SNI to send. */
export function upstreamTls(socket: Pb, cluster: string, ctx: Context, sink: Sink): BackendTls | undefined {
  const tls = readSocket(socket, EMBEDDED_TYPE_URLS.UpstreamTlsContext, UPSTREAM_TLS, ctx, sink);
  if (tls === undefined) return undefined;
  const at = sink.at('typed_config.common_tls_context');
  const common: Pb = tls.common_tls_context ?? {};
  checkOwnCert(common.tls_certificate_sds_secret_configs, at.at('tls_certificate_sds_secret_configs'));
  const combined: Pb | undefined = common.combined_validation_context;
  if (combined === undefined) {
    at.add('combined_validation_context', 'required: the SPIFFE IDs the endpoints may have, and the ROOTCA secret');
    return undefined;
  }
  checkRootCa(combined.validation_context_sds_secret_config, ctx, at.at('combined_validation_context.validation_context_sds_secret_config'));
  const sans: Pb[] = combined.default_validation_context?.match_typed_subject_alt_names ?? [];
  const identities: string[] = [];
  sans.forEach((san, i) => {
    const exact = san.matcher?.exact;
    if (san.san_type === undefined) at.add(`combined_validation_context.default_validation_context.match_typed_subject_alt_names[${i}].san_type`, 'required: URI');
    if (typeof exact !== 'string' || exact === '') at.add(`combined_validation_context.default_validation_context.match_typed_subject_alt_names[${i}].matcher.exact`, 'required: a SPIFFE ID');
    else identities.push(exact);
  });
  if (sans.length === 0) {
    at.add('combined_validation_context.default_validation_context.match_typed_subject_alt_names', 'needs at least one URI SAN: a Sluice proxy checks the SPIFFE ID of every endpoint it calls');
  }
  const alpn: string[] = common.alpn_protocols ?? [];
  if (alpn.length > 0 && (alpn.length !== 1 || alpn[0] !== 'h2')) at.add('alpn_protocols', `a Sluice proxy speaks h2 to peer proxies; got ${alpn.join(', ')}`);
  const sni = typeof tls.sni === 'string' && tls.sni !== '' ? tls.sni : cluster;
  return { identities: [...new Set(identities)], serverName: sni };
}

/** The ROOTCA secret: checks it and returns the PEM bundle in it. */
export function trustBundle(secret: Pb, sink: Sink): string | undefined {
  if (secret.name !== ROOT_CA) {
    const why = secret.name === OWN_CERT ? 'the proxy makes its own certificate; it is never pushed' : `only ${ROOT_CA} (the trust bundle) is read`;
    sink.add('name', `a Sluice proxy does not subscribe to this secret: ${why}`);
    return undefined;
  }
  const pem = secret.validation_context?.trusted_ca?.inline_string;
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----')) {
    sink.add('validation_context.trusted_ca.inline_string', 'required: the PEM trust bundle (one or more CERTIFICATE blocks)');
    return undefined;
  }
  return pem;
}

function readSocket(socket: Pb, typeUrl: string, shape: Shape, ctx: Context, sink: Sink): Pb | undefined {
  if (socket.name !== TLS_SOCKET) sink.add('name', `unknown transport socket '${socket.name ?? ''}'; a Sluice proxy reads ${TLS_SOCKET}`);
  if (ctx.identity === null) sink.add('', 'mTLS needs the proxy\'s own certificate, and this proxy has none');
  return readTyped(socket.typed_config, typeUrl, shape, sink, 'typed_config');
}

function checkOwnCert(configs: Pb[] | undefined, sink: Sink): void {
  const list = configs ?? [];
  if (list.length !== 1) sink.add('', `needs exactly one entry, { name: ${OWN_CERT}, sds_config: { ads: {} } }: the proxy's own certificate; got ${list.length}`);
  list.forEach((c, i) => {
    if (c.name !== OWN_CERT) sink.add(`[${i}].name`, secretNameMessage(c.name, OWN_CERT));
    if (c.sds_config === undefined) sink.add(`[${i}].sds_config`, 'required: { ads: {} }');
  });
}

function checkRootCa(config: Pb | undefined, ctx: Context, sink: Sink): void {
  if (config === undefined) {
    sink.add('', `required: { name: ${ROOT_CA}, sds_config: { ads: {} } }, the trust bundle peers are checked against`);
    return;
  }
  if (config.sds_config === undefined) sink.add('sds_config', 'required: { ads: {} }');
  if (config.name !== ROOT_CA) sink.add('name', secretNameMessage(config.name, ROOT_CA));
  else if (ctx.refs !== null && !ctx.refs.secrets.has(ROOT_CA)) sink.add('name', `no Secret '${ROOT_CA}' was received`);
}

function secretNameMessage(name: unknown, expected: string): string {
  return `names secret '${String(name ?? '')}'; here it must be '${expected}' (a Sluice proxy knows only '${OWN_CERT}', its own certificate, and '${ROOT_CA}', the trust bundle)`;
}
