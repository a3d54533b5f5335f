// sluicectl over HTTPS: sluice-cp serves its API with its own CA's certificate on any
// non-loopback address, and sluicectl trusts it only through --ca-file, SLUICE_CA_FILE
// or the config file's caFile.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startControlPlane, type ControlPlaneProcess } from '../../helpers/control-plane.ts';
import { sluicectl } from './harness.ts';

describe('sluicectl over https', () => {
  let cp: ControlPlaneProcess;
  let server: string;
  let caFile: string;

  before(async () => {
    cp = await startControlPlane({ args: ['--api-addr', '0.0.0.0:0'] });
    assert.match(cp.url, /^https:\/\//);
    // The certificate names 127.0.0.1 (not 0.0.0.0, the address it listens on).
    server = cp.url.replace('0.0.0.0', '127.0.0.1');
    caFile = join(cp.dataDir, 'ca', 'bundle.pem');
  });
  after(() => cp?.stop());

  test('without the CA the certificate is refused, and the message says how to trust it', async () => {
    const r = await sluicectl(['version', '--server', server, '--token-file', cp.tokenFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot reach the control plane at ${server.replaceAll('.', '\\.')}: [A-Z_]+ \\(its certificate is not trusted: set --ca-file or SLUICE_CA_FILE`));
  });

  test('--ca-file, SLUICE_CA_FILE and caFile in ~/.sluice/config each make it trusted', async () => {
    const viaFlag = await sluicectl(['version', '--server', server, '--token-file', cp.tokenFile, '--ca-file', caFile]);
    assert.equal(viaFlag.stdout, 'Client Version: 0.1.0\nServer Version: 0.1.0\n', viaFlag.stderr);
    const viaEnv = await sluicectl(['get', 'meshes'], { env: { SLUICE_SERVER: server, SLUICE_TOKEN_FILE: cp.tokenFile, SLUICE_CA_FILE: caFile } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const home = mkdtempSync(join(tmpdir(), 'sluicectl-home-'));
    mkdirSync(join(home, '.sluice'));
    writeFileSync(join(home, '.sluice', 'config'), `server: ${server}\ntokenFile: ${cp.tokenFile}\ncaFile: ${caFile}\n`);
    const viaConfig = await sluicectl(['version'], { home });
    assert.equal(viaConfig.code, 0, viaConfig.stderr);
  });
});
