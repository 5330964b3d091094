// Baseline for tcp: a process with a plain node:net server on loopback.
// Frames are a u32 length and that many bytes. A frame is echoed back
// (ping-pong mode), or counted (sink mode), where an empty frame asks for
// the count, answered as a u32.
import { createServer, type Socket } from 'node:net';

const mode = process.argv[2] === 'sink' ? 'sink' : 'echo';
process.on('disconnect', () => process.exit(0));

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  let buffered: Buffer = Buffer.alloc(0);
  let count = 0;
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    let at = 0;
    while (buffered.length - at >= 4) {
      const len = buffered.readUInt32LE(at);
      if (buffered.length - at < 4 + len) break;
      if (mode === 'echo') socket.write(buffered.subarray(at, at + 4 + len));
      else if (len === 0) {
        const answer = Buffer.alloc(4);
        answer.writeUInt32LE(count >>> 0);
        socket.write(answer);
      } else count++;
      at += 4 + len;
    }
    buffered = buffered.subarray(at);
  });
}

const server = createServer(serve);
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.send?.({ port: typeof a === 'object' && a !== null ? a.port : 0 });
});
