// One colour and one short name per subject, the same in every chart, so
// that a transport is recognised at a glance from one chart to the next.

interface Look {
  readonly color: string;
  readonly short: string;
}

const LOOKS: Record<string, Look> = {
  local: { color: '#7f7f7f', short: 'same isolate' },
  kernel: { color: '#1f77b4', short: 'kernel' },
  'shm-parked': { color: '#2ca02c', short: 'shm, parked' },
  'shm-polling': { color: '#17becf', short: 'shm, polling' },
  callsync: { color: '#d62728', short: 'callSync' },
  auto: { color: '#9467bd', short: 'fos call (auto)' },
  tcp: { color: '#8c564b', short: 'tcp' },
  'kernel-many': { color: '#aec7e8', short: 'kernel, sendMany' },
  'shm-polling-many': { color: '#9edae5', short: 'shm, polling, sendMany' },
  'tcp-many': { color: '#c49c94', short: 'tcp, sendMany' },
  'raw-port': { color: '#1f77b4', short: 'raw MessagePort' },
  'raw-sab': { color: '#2ca02c', short: 'raw SAB spin' },
  'raw-net': { color: '#8c564b', short: 'raw node:net' },
  piscina: { color: '#ff7f0e', short: 'piscina' },
  comlink: { color: '#bcbd22', short: 'comlink' },
  fstat: { color: '#555555', short: 'fstatSync(0)' },
  read: { color: '#888888', short: 'readSync 1 B' },
  function: { color: '#bbbbbb', short: 'function call' },
};

const SPARE = ['#e377c2', '#393b79', '#637939', '#8c6d31'];

export function look(id: string): Look {
  return LOOKS[id] ?? { color: SPARE[[...id].reduce((h, c) => h + c.charCodeAt(0), 0) % SPARE.length]!, short: id };
}

/** Colours of the payload sizes, where bars of several sizes stand side by side. */
export function sizeColor(index: number): string {
  return ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2'][index % 5]!;
}

/** Colours of the transports that carried E4's calls. */
export const CARRIER_COLORS = { kernel: '#1f77b4', shm: '#2ca02c', mixed: '#ff7f0e' } as const;
