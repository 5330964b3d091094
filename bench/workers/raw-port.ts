// Baseline: a worker that posts back whatever it receives; a message
// `{ count: n }` asks it to count n one-way messages, then answer.
import { parentPort } from 'node:worker_threads';

let counting = 0;
parentPort!.on('message', (m: unknown) => {
  if (counting > 0) {
    if (--counting === 0) parentPort!.postMessage('counted');
    return;
  }
  if (typeof m === 'object' && m !== null && 'count' in m) {
    counting = (m as { count: number }).count;
    return;
  }
  parentPort!.postMessage(m);
});
