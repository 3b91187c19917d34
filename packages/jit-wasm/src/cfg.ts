/**
 * The facts about a function's control-flow graph that structured WebAssembly needs (Norman
 * Ramsey, "Beyond Relooper: recursive translation of unstructured control flow to structured
 * control flow", ICFP 2022): reverse postorder, immediate dominators (Cooper, Harvey and
 * Kennedy's iterative algorithm), loop headers, merge nodes, and whether the graph is reducible
 * (every retreating edge goes to a block that dominates its source).
 */
export interface Cfg {
  /** Reverse-postorder number of each block, -1 when unreachable from block 0. */
  readonly rpo: readonly number[];
  readonly idom: readonly number[];
  /** Targets of retreating edges. */
  readonly loopHeader: readonly boolean[];
  /** Blocks with two or more forward in-edges. */
  readonly merge: readonly boolean[];
  /** Children of each block in the dominator tree that are merge nodes, highest RPO number first. */
  readonly mergeChildren: readonly (readonly number[])[];
  readonly reducible: boolean;
}

export function analyseCfg(succ: readonly (readonly number[])[]): Cfg {
  const n = succ.length;
  const rpo = new Array<number>(n).fill(-1);
  const order: number[] = [];
  // iterative depth-first search for the postorder
  const seen = new Uint8Array(n);
  const stack: [number, number][] = [[0, 0]];
  seen[0] = 1;
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [b, k] = top;
    const s = succ[b]!;
    if (k < s.length) {
      top[1]++;
      const t = s[k]!;
      if (!seen[t]) {
        seen[t] = 1;
        stack.push([t, 0]);
      }
    } else {
      order.push(b);
      stack.pop();
    }
  }
  order.reverse();
  order.forEach((b, k) => (rpo[b] = k));
  const preds: number[][] = Array.from({ length: n }, () => []);
  for (let b = 0; b < n; b++) if (rpo[b]! >= 0) for (const t of succ[b]!) preds[t]!.push(b);
  const idom = new Array<number>(n).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while (rpo[a]! > rpo[b]!) a = idom[a]!;
      while (rpo[b]! > rpo[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const b of order) {
      if (b === 0) continue;
      let d = -1;
      for (const p of preds[b]!) if (idom[p] !== -1) d = d === -1 ? p : intersect(p, d);
      if (d !== idom[b]) {
        idom[b] = d;
        changed = true;
      }
    }
  }
  const dominates = (a: number, b: number): boolean => {
    for (;;) {
      if (a === b) return true;
      if (b === 0) return false;
      b = idom[b]!;
    }
  };
  const loopHeader = new Array<boolean>(n).fill(false);
  const forwardIn = new Array<number>(n).fill(0);
  let reducible = true;
  for (const b of order)
    for (const t of succ[b]!) {
      if (rpo[t]! <= rpo[b]!) {
        loopHeader[t] = true;
        if (!dominates(t, b)) reducible = false;
      } else forwardIn[t]!++;
    }
  const merge = forwardIn.map((c) => c >= 2);
  const mergeChildren: number[][] = Array.from({ length: n }, () => []);
  for (const b of order) if (b !== 0 && merge[b]) mergeChildren[idom[b]!]!.push(b);
  for (const c of mergeChildren) c.sort((x, y) => rpo[y]! - rpo[x]!);
  return { rpo, idom, loopHeader, merge, mergeChildren, reducible };
}
