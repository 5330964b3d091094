// Baseline: the reader of a bare shared-memory ring (subjects/raw-ring.ts),
// spinning until asked to stop.
import { workerData } from 'node:worker_threads';
import { drainRawRing } from '../subjects/raw-ring.js';

drainRawRing((workerData as { sab: SharedArrayBuffer }).sab);
