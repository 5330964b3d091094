/**
 * The worker `fos node --service NAME=MODULE` spawns: it loads MODULE and
 * serves it under NAME. A module whose default export is a function is a
 * fos service as `node.spawn` runs it (it binds what it likes; `ctx.data`
 * is `{ name }`); otherwise its default export, or else its exported
 * functions, are the handlers served under NAME.
 */
import { serve } from '../api.js';
import { FosError } from '../errors.js';
import { importModule } from '../node/module-import.js';
import type { ServiceContext } from '../node/worker-entry.js';
import type { ServeData } from './node-command.js';

export default async function start(ctx: ServiceContext<ServeData>): Promise<void> {
  const { name, module, slot } = ctx.data;
  const mod = await importModule(module);
  const d = mod['default'];
  if (typeof d === 'function') {
    // A replacement is the worker it replaces: that one's index among the service's workers, and their count.
    const place = slot === undefined ? {} : { index: slot, count: ctx.data.count };
    await (d as (c: ServiceContext<{ name: string }>) => unknown)({ ...ctx, ...place, data: { name } });
    return;
  }
  const handlers = typeof d === 'object' && d !== null ? d : Object.fromEntries(Object.entries(mod).filter(([, v]) => typeof v === 'function'));
  if (Object.keys(handlers).length === 0) throw new FosError('EINVAL', `${module} exports no handlers to serve`);
  await serve(name, handlers).ready;
}
