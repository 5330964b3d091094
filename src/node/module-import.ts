/**
 * Importing the module a worker runs: a module that is not there fails
 * with ENOENT naming what was asked for, not as whatever its import threw
 * from inside fos ("Cannot find module ... imported from worker-entry.js").
 * A module that is there but imports a missing one fails with what that
 * import threw, as any error of the module does. No file is looked at
 * beforehand: a loader (tsx, ts-node) may map the name to another file.
 */
import { fileURLToPath } from 'node:url';
import { FosError } from '../errors.js';

export async function importModule(href: string): Promise<Record<string, unknown>> {
  try {
    return (await import(href)) as Record<string, unknown>;
  } catch (e) {
    // Node names the module it could not find in the error's url: this one, or one it imports.
    const err = e as { code?: unknown; url?: unknown } | null;
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && err.url === href) throw new FosError('ENOENT', `no module at ${shown(href)}`);
    throw e;
  }
}

/** A file URL as its path, as the caller most likely gave it; another URL as it is. */
function shown(href: string): string {
  try {
    return href.startsWith('file:') ? fileURLToPath(href) : href;
  } catch {
    return href;
  }
}
