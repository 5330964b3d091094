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
/** Why the isolate has no runtime any more (its node shut down), for the error of a later call. */
const ENDED = Symbol.for('fos.runtime.ended');
type Holder = { [KEY]?: Runtime | undefined; [ENDED]?: string | undefined };

/** Sets the isolate's runtime; `ended` says why there is none any more when `rt` is undefined. */
export function setRuntime(rt: Runtime | undefined, ended?: string): void {
  const holder = globalThis as Holder;
  holder[KEY] = rt;
  holder[ENDED] = rt === undefined ? ended : undefined;
}

export function currentRuntime(): Runtime | undefined {
  return (globalThis as Holder)[KEY];
}

export function runtime(): Runtime {
  const rt = currentRuntime();
  if (rt === undefined) {
    const ended = (globalThis as Holder)[ENDED];
    throw new FosError('ECLOSED', ended !== undefined ? `${ended}: boot() again to use fos in this isolate` : 'no fos runtime in this isolate: call boot() on the main thread first');
  }
  return rt;
}
