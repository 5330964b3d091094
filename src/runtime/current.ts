/**
 * The runtime of the isolate this code runs in, behind the module-level API.
 *
 * Kept on `globalThis` under a registered symbol, so that two copies of the
 * package loaded in one isolate (a service importing `fos` from its own
 * node_modules, say) still share one runtime.
 */
import { FosError } from '../errors.js';
import type { Runtime } from './runtime.js';

const KEY = Symbol.for('fos.runtime');
type Holder = { [KEY]?: Runtime | undefined };

export function setRuntime(rt: Runtime | undefined): void {
  (globalThis as Holder)[KEY] = rt;
}

export function currentRuntime(): Runtime | undefined {
  return (globalThis as Holder)[KEY];
}

export function runtime(): Runtime {
  const rt = currentRuntime();
  if (rt === undefined) throw new FosError('ECLOSED', 'no fos runtime in this isolate: call boot() on the main thread first');
  return rt;
}
