// A service that calls another by name, wherever in the cluster it runs:
// `fos node --service /app/greeter=dist/examples/cluster/greeter.js`.
import { call } from '../../src/index.js';

export async function greet(key: string): Promise<string> {
  const name = await call<string | undefined>('/app/kv', 'get', [key]);
  return `hello, ${name ?? 'stranger'}`;
}

export async function remember(key: string, name: string): Promise<boolean> {
  return call<boolean>('/app/kv', 'set', [key, name]);
}
