// Baseline: a worker that posts back whatever it receives.
import { parentPort } from 'node:worker_threads';

parentPort!.on('message', (m: unknown) => parentPort!.postMessage(m));
