/**
 * A kernel verifier log (log level 1 or 2, as kernel/bpf/log.c and verifier.c print it) read
 * back into the trace shape of trace.ts, so a log from any kernel gets the same views as our
 * own verifier's trace. What the text holds is all there is: level 1 has the instructions and
 * the error, level 2 also the registers each instruction changed (`; R1_w=...`), the full state
 * where a path resumes (`from 2 to 5: ...`) and the precision walk (`mark_precise: ...`).
 */
import type { Trace, TraceFrame, TraceLink, TracePath, TracePrune, TraceReg, TraceRejection, TraceSlot, TraceState, TraceStep } from './trace.js';

/** One instruction as the log printed it. */
export interface LogInsn {
  readonly pc: number;
  /** Opcode byte, as the log's `(bf)`. */
  readonly code: number;
  readonly text: string;
  /** The C source line the log printed before it (`; return x; @ prog.c:12`), if any. */
  readonly source?: string;
}

export interface KernelLogTrace extends Trace {
  readonly source: 'kernel-log';
  /** Each instruction the log printed, by pc. */
  readonly listing: readonly LogInsn[];
  /** The `processed N insns` line's count, when the log has it. */
  readonly processed?: number;
  /** Each `mark_precise` walk: the instructions it went through, newest first. */
  readonly precision: readonly (readonly TraceLink[])[];
}

/** Splits ` R1=ctx() R2_w=scalar(smin=0,var_off=(0x0; 0xff)) fp-8=mmmm????` at top-level spaces. */
function tokens(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (ch === ' ' && depth === 0) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

const SLOT_KINDS = /^[?rm0difz]{1,8}$/;

/** A register's value text (`scalar(...)`, `ctx()`, `fp-8`, `P0`, `map_value(map=m,ks=4,vs=8)`). */
export function parseRegText(text: string): TraceReg {
  const t = text.replace(/^P(?=[\d-]|scalar)/, '');
  if (/^-?\d+$/.test(t) || /^0x[0-9a-f]+$/.test(t)) return { type: 'scalar', text, value: BigInt.asIntN(64, BigInt(t)).toString() };
  if (/^fp-?\d+$/.test(t)) return { type: 'fp', text, ...(t !== 'fp0' ? { off: Number(t.slice(2)) } : {}) };
  const m = /^([a-z_0-9]+)\((.*)\)$/.exec(t);
  if (!m) return { type: t, text };
  const out: { -readonly [K in keyof TraceReg]: TraceReg[K] } = { type: m[1]!, text };
  for (const kv of m[2]!.split(/,(?![^(]*\))/)) {
    const eq = kv.indexOf('=');
    if (eq < 0) continue;
    const all = kv.split('=');
    const value = all[all.length - 1]!;
    for (const n of all.slice(0, -1)) {
      const num = /^-?(0x[0-9a-f]+|\d+)$/.test(value) ? (value.startsWith('-') ? -BigInt(value.slice(1)) : BigInt(value)) : undefined;
      if ((n === 'smin' || n === 'smax') && num !== undefined) out[n] = BigInt.asIntN(64, num).toString();
      else if ((n === 'umin' || n === 'umax') && num !== undefined) out[n] = BigInt.asUintN(64, num).toString();
      else if (n === 'id') out.id = Number(value);
      else if (n === 'ref_obj_id') out.refObjId = Number(value);
      else if (n === 'r') out.range = Number(value);
      else if (n === 'off') out.off = Number(value);
      else if (n === 'map') out.map = value;
      else if (n === 'var_off') {
        const vm = /^\((0x[0-9a-f]+); (0x[0-9a-f]+)\)$/.exec(value);
        if (vm) out.varOff = { value: vm[1]!, mask: vm[2]! };
      }
    }
  }
  return out;
}

interface MutFrame {
  regs: (TraceReg | null)[];
  stack: Map<number, TraceSlot>;
}

const emptyFrame = (): MutFrame => ({ regs: new Array<TraceReg | null>(11).fill(null), stack: new Map() });

/** Applies `R1_w=... fp-8=...` to a frame; `full` replaces it instead. */
function applyState(f: MutFrame, text: string, full: boolean): void {
  if (full) {
    f.regs.fill(null);
    f.stack.clear();
  }
  for (const tok of tokens(text)) {
    const m = /^(R(\d+)|fp(-\d+))(?:_[rwD]+)?=(.*)$/.exec(tok);
    if (!m) continue;
    if (m[2] !== undefined) {
      f.regs[Number(m[2])] = parseRegText(m[4]!);
      continue;
    }
    const off = Number(m[3]);
    const v = m[4]!;
    if (SLOT_KINDS.test(v) && !/^0$/.test(v)) f.stack.set(off, { off, kinds: v.padStart(8, '?') });
    else {
      // a spill: the other bytes' kinds, then the spilled register
      const km = /^([?m0]{0,7})(.+)$/.exec(v)!;
      f.stack.set(off, { off, kinds: km[1]!.padEnd(8, 'r'), spilled: parseRegText(km[2]!) });
    }
  }
}

const snapshot = (frames: MutFrame[]): TraceState => ({
  frames: frames.map(
    (f, k): TraceFrame => ({
      frame: k,
      subprog: -1,
      callsite: -1,
      regs: f.regs.slice(),
      stack: [...f.stack.values()].sort((a, b) => b.off - a.off),
      stackArgs: [],
    }),
  ),
  refs: [],
});

const INSN = /^(\d+): \(([0-9a-f]{2})\) (.*?)(?: {2,}; (.*))?$/;
const STATE = /^(\d+): (?:frame(\d+): )?(R\d.*|fp.*)$/;
const FROM = /^from (\d+) to (\d+): (?:frame(\d+): )?(.*)$/;
const SAFE = /^(\d+): safe$/;
const FRAME_LINE = /^\s*frame(\d+): (.*)$/;
const PRECISE_BEFORE = /^mark_precise: frame(\d+): regs=([r\d,]*) stack=([-\d,]*) before (\d+): /;
const PROCESSED = /^processed (\d+) insns/;

/** Reads a kernel verifier log (level 1 or 2) into a trace. Lines it does not know are skipped. */
export function parseKernelLog(log: string): KernelLogTrace {
  const steps: TraceStep[] = [];
  const paths: { id: number; parent?: number; forkedAt?: number; start: number; end?: TracePath['end'] }[] = [];
  const prunes: TracePrune[] = [];
  const listing = new Map<number, LogInsn>();
  const precision: TraceLink[][] = [];
  let frames: MutFrame[] = [emptyFrame()];
  let depth = 0;
  let path = -1;
  let source: string | undefined;
  let processed: number | undefined;
  let lastInsnLine = -1;
  let walk: TraceLink[] | undefined;
  /** The last step of each path, so a path's next instruction can be filled in. */
  const lastStepOf = new Map<number, number>();
  const lastPathAt = new Map<number, number>();
  const lines = log.split('\n');
  const newPath = (start: number, forkedAt?: number): void => {
    const parent = forkedAt !== undefined ? lastPathAt.get(forkedAt) : undefined;
    path = paths.length;
    paths.push({ id: path, start, ...(parent !== undefined ? { parent } : {}), ...(forkedAt !== undefined ? { forkedAt } : {}) });
  };
  const endPath = (pc: number, how: 'exit' | 'pruned' | 'rejected'): void => {
    if (path >= 0 && !paths[path]!.end) paths[path]!.end = { pc, how };
  };
  const frameState = (k: number): MutFrame => {
    while (frames.length <= k) frames.push(emptyFrame());
    return frames[k]!;
  };
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    let m: RegExpExecArray | null;
    if ((m = INSN.exec(line))) {
      const pc = Number(m[1]);
      const code = parseInt(m[2]!, 16);
      if (path < 0) newPath(pc);
      if (!listing.has(pc)) listing.set(pc, { pc, code, text: m[3]!, ...(source ? { source } : {}) });
      source = undefined;
      const before = snapshot(frames.slice(0, depth + 1));
      const prev = lastStepOf.get(path);
      if (prev !== undefined) (steps[prev] as { next: number }).next = pc;
      if (code === 0x85) for (let r = 1; r <= 5; r++) frameState(depth).regs[r] = null;
      let stateText = m[4];
      if (stateText !== undefined) {
        const fm = /^frame(\d+): (.*)$/.exec(stateText);
        if (fm) {
          depth = Number(fm[1]);
          stateText = fm[2]!;
        }
        applyState(frameState(depth), stateText, false);
      }
      if (code === 0x95 && depth > 0) {
        frames = frames.slice(0, depth);
        depth--;
      }
      lastStepOf.set(path, steps.length);
      lastPathAt.set(pc, path);
      steps.push({ index: steps.length, path, pc, frame: depth, before, after: snapshot(frames.slice(0, depth + 1)), next: -1, forks: [] });
      lastInsnLine = n;
      walk = undefined;
      continue;
    }
    if ((m = FROM.exec(line))) {
      const from = Number(m[1]);
      const to = Number(m[2]);
      const owner = lastPathAt.get(from);
      if (path >= 0 && !paths[path]!.end) endPath(steps[lastStepOf.get(path) ?? 0]?.pc ?? from, 'exit');
      newPath(to, from);
      if (owner !== undefined) {
        const k = [...steps.keys()].reverse().find((i) => steps[i]!.pc === from && steps[i]!.path === owner);
        if (k !== undefined) (steps[k]!.forks as number[]).push(path);
      }
      if (m[4] === 'safe') {
        prunes.push({ path, pc: to });
        endPath(to, 'pruned');
        continue;
      }
      depth = m[3] !== undefined ? Number(m[3]) : 0;
      frames = frames.slice(0, depth + 1);
      applyState(frameState(depth), m[4]!, true);
      continue;
    }
    if ((m = SAFE.exec(line))) {
      const pc = Number(m[1]);
      if (path < 0) newPath(pc);
      const prev = lastStepOf.get(path);
      if (prev !== undefined) (steps[prev] as { next: number }).next = pc;
      prunes.push({ path, pc, state: snapshot(frames.slice(0, depth + 1)) });
      endPath(pc, 'pruned');
      continue;
    }
    if ((m = STATE.exec(line))) {
      if (path < 0) newPath(Number(m[1]));
      if (m[2] !== undefined) depth = Number(m[2]);
      applyState(frameState(depth), m[3]!, true);
      continue;
    }
    if ((m = FRAME_LINE.exec(line))) {
      // caller:/callee: blocks at a call: each frame's full state
      const k = Number(m[1]);
      applyState(frameState(k), m[2]!, true);
      depth = Math.max(depth, k);
      continue;
    }
    if ((m = PRECISE_BEFORE.exec(line))) {
      const frame = Number(m[1]);
      const regs = m[2] ? m[2].split(',').filter(Boolean).map((r) => Number(r.slice(1))) : [];
      const slots = m[3] ? m[3].split(',').filter(Boolean).map(Number) : [];
      if (!walk) precision.push((walk = []));
      walk.push({ pc: Number(m[4]), frame, regs, slots });
      continue;
    }
    if (line.startsWith('mark_precise:')) continue;
    if ((m = PROCESSED.exec(line))) {
      processed = Number(m[1]);
      continue;
    }
    if (line.startsWith('; ')) source = line.slice(2);
  }
  let rejection: TraceRejection | undefined;
  if (processed === undefined || lastInsnLine >= 0) {
    // the error: what follows the last instruction (and its precision walk), up to "processed"
    const tail = lines.slice(lastInsnLine + 1).filter((l) => l && !PROCESSED.test(l) && !l.startsWith('mark_precise:') && !l.startsWith('verification time') && !l.startsWith('stack depth') && !FROM.test(l) && !SAFE.test(l) && !STATE.test(l) && !FRAME_LINE.test(l) && !/^(caller|callee):$/.test(l));
    const lastStep = steps[steps.length - 1];
    const rejected = tail.length > 0 && lastStep !== undefined && (paths[lastStep.path]!.end === undefined || lastStep.next === -1) && lastStep.pc === Number(INSN.exec(lines[lastInsnLine] ?? '')?.[1]);
    if (rejected) {
      const st = lastStep;
      // a rejected instruction has no state after it
      const { after: _after, ...rest } = st;
      steps[steps.length - 1] = { ...rest, next: -1 };
      paths[st.path]!.end = { pc: st.pc, how: 'rejected' };
      const lastWalk = precision[precision.length - 1];
      rejection = {
        pc: st.pc,
        message: tail[tail.length - 1]!,
        path: st.path,
        ...(st.before ? { state: st.before } : {}),
        regs: lastWalk?.[0]?.regs ?? [],
        chain: lastWalk && walkAfter(lines, lastInsnLine) ? lastWalk : [],
      };
    }
  }
  for (const p of paths) if (!p.end) p.end = { pc: steps[lastStepOf.get(p.id) ?? -1]?.pc ?? p.start, how: 'exit' };
  return {
    source: 'kernel-log',
    steps,
    paths,
    checkpoints: [],
    prunes,
    ...(rejection ? { rejection } : {}),
    truncated: false,
    listing: [...listing.values()].sort((a, b) => a.pc - b.pc),
    ...(processed !== undefined ? { processed } : {}),
    precision,
  };
}

/** Whether a precision walk was printed after the last instruction line (it explains the error). */
const walkAfter = (lines: readonly string[], last: number): boolean => lines.slice(last + 1).some((l) => l.startsWith('mark_precise:'));
