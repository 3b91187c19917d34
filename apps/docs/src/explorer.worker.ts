// The explorer's engine off the page's thread: a 4k-instruction program's trace does not freeze the page.
import { explainValue, explore, splitStates, STATE_SLICE, type ExplorerInput } from './explorer.js';

interface Request {
  readonly id: number;
  readonly input: ExplorerInput;
  /** Ask where a register's value came from instead of opening the input. */
  readonly explain?: { readonly step: number; readonly reg: number };
}
const ctx = self as unknown as { onmessage: (e: MessageEvent<Request>) => void; postMessage(m: unknown): void };
ctx.onmessage = (e) => {
  const { id, input, explain } = e.data;
  try {
    if (explain) ctx.postMessage({ id, explained: explainValue(input, explain.step, explain.reg) ?? null });
    else {
      // the model first, then the per-step states in slices: no one message costs the page a long task to decode
      const { model, states } = splitStates(explore(input));
      ctx.postMessage({ id, model });
      for (let from = 0; from < states.length; from += STATE_SLICE) ctx.postMessage({ id, from, states: states.slice(from, from + STATE_SLICE), done: from + STATE_SLICE >= states.length });
    }
  } catch (err) {
    ctx.postMessage({ id, error: (err as Error).message });
  }
};
