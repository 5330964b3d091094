// Baseline: a worker that counts the messages it receives; `{ query: n }`
// asks for the count so far (answered after every message posted before it,
// since a port is FIFO).
import { parentPort } from 'node:worker_threads';

let count = 0;
parentPort!.on('message', (m: unknown) => {
  if (typeof m === 'object' && m !== null && 'query' in m) parentPort!.postMessage({ query: (m as { query: number }).query, count });
  else count++;
});
