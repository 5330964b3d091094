// What piscina runs: echo the task.
export default function echo<T>(x: T): T {
  return x;
}
