// A key-value store served by `fos node --service /app/kv=dist/examples/cluster/kv.js`:
// its exported functions are the methods. Each isolate that runs it holds its own map.
const store = new Map<string, unknown>();

export function get(key: string): unknown {
  return store.get(key);
}

export function set(key: string, value: unknown): true {
  store.set(key, value);
  return true;
}
