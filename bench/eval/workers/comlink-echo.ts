// What comlink exposes: an echo.
import { parentPort } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';

expose({ echo: <T>(x: T): T => x }, nodeEndpoint(parentPort!));
