/** Node addresses: HOST:PORT as written in options and on the command line. */
import { FosError } from '../../errors.js';

/** 'host:port', '[v6]:port' or ':port' (all interfaces). */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) throw new FosError('EINVAL', `an address is HOST:PORT, got ${JSON.stringify(address)}`);
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!), port };
}

/** The hosts that mean every interface: 0.0.0.0 (also as 0 or 0.0; parseHostPort gives it for ':PORT') and :: (also as ::0 or 0:0:...). */
const WILDCARD_HOSTS = /^(0+(\.0+){0,3}|[0:]+)$/;

/** What a node advertises is where other nodes dial it: a HOST:PORT with a host and a port, not a wildcard. */
export function checkAdvertised(address: unknown): void {
  if (typeof address !== 'string') throw new FosError('EINVAL', `advertise is a HOST:PORT, got ${typeof address}`);
  const { host, port } = parseHostPort(address);
  if (port === 0 || WILDCARD_HOSTS.test(host)) {
    throw new FosError('EINVAL', `advertise is where other nodes dial this one: a host and a port, not ${JSON.stringify(address)}`);
  }
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Whether `host` is a loopback address, the only place a node may listen or dial without a secret. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
