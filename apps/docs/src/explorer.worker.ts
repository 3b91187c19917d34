// The explorer's engine off the page's thread: a 4k-instruction program's trace does not freeze the page.
import { explore, type ExplorerInput } from './explorer.js';

const ctx = self as unknown as { onmessage: (e: MessageEvent<{ id: number; input: ExplorerInput }>) => void; postMessage(m: unknown): void };
ctx.onmessage = (e) => {
  const { id, input } = e.data;
  try {
    ctx.postMessage({ id, model: explore(input) });
  } catch (err) {
    ctx.postMessage({ id, error: (err as Error).message });
  }
};
