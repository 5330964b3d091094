// A second node, in a process of its own, for the tcp measurements: it
// dials the bench node (argv[2]), serves the bench service on its main
// thread under argv[3] (so a message crosses the proxies and nothing else),
// says so over IPC, and exits when its parent goes.
import { boot } from '../../../src/index.js';
import startBench from './bench-service.js';

const [, , address, name] = process.argv;
process.on('disconnect', () => process.exit(0));
const node = await boot({ name: `far-${process.pid}`, peers: [address!] });
startBench({ data: { name: name! }, index: 0, count: 1, isolate: 0, node: node.name });
process.send?.({ ready: node.name });
