// Certificates for the mutual-TLS tests, made with the openssl command: a CA
// and node certificates it signs (P-256 keys, valid for two days).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NodeCert {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

/** A CA, and one certificate it signs for each name. */
export function makeCerts(names: readonly string[]): Record<string, NodeCert> {
  const dir = mkdtempSync(join(tmpdir(), 'fos-certs-'));
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  try {
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=fos test CA');
    const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const out: Record<string, NodeCert> = {};
    for (const n of names) {
      ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${n}`);
      ssl('x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${n}.crt`, '-days', '2');
      out[n] = { key: readFileSync(join(dir, `${n}.key`), 'utf8'), cert: readFileSync(join(dir, `${n}.crt`), 'utf8'), ca };
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
