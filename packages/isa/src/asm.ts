/**
 * Assembler for LLVM's BPF syntax (what llvm-mc-19 accepts and llvm-objdump-19 prints) and the
 * kernel verifier log's syntax (kernel/bpf/disasm.c), plus directives of our own that declare
 * what the verifier needs for stack arguments: prototypes of subprograms and kfuncs, maps,
 * program type and license.
 *
 * One table of line patterns drives it; labels are resolved in a second pass. Every error is
 * an `IsaError` with the line and column.
 */
import { IsaError, type SourceLocation } from './errors.js';
import { helperId } from './helpers.js';
import { insn, splitImm64, type Insn } from './insn.js';
import { discoverSubprogs, type FuncProtoDecl, type MapDef, type ParamDecl, type Program, type ProgType, PROG_TYPES, type Reloc } from './program.js';

export interface AssembleOptions {
  /** `llvm`, `kernel`, or `auto` (default: both are accepted, line by line). */
  readonly syntax?: 'llvm' | 'kernel' | 'auto';
}

/** A `Program` with the source line of each instruction slot. */
export interface AssembledProgram extends Program {
  /** 1-based source line of each slot (the second slot of `ld_imm64` repeats the first). */
  readonly sourceLines: readonly number[];
}

const NUM = String.raw`[-+]?(?:0x[0-9a-fA-F]+|\d+)`;
const OFF = String.raw`([-+])\s*(0x[0-9a-fA-F]+|\d+)`;
const REG = String.raw`([rw])(\d+)`;
const MEM = String.raw`\(\s*r(\d+)\s*(?:${OFF})?\s*\)`;
const SZ = String.raw`\(\s*(u8|u16|u32|u64|s8|s16|s32)\s*\*\s*\)`;
const TARGET = String.raw`(pc\s*[-+]\s*\d+|[-+]\s*(?:0x[0-9a-fA-F]+|\d+)|[A-Za-z_.$][\w.$]*)`;
const IDENT = String.raw`[A-Za-z_.$][\w.$]*`;

const SIZE_BITS: Record<string, number> = { u32: 0x00, u16: 0x08, u8: 0x10, u64: 0x18, s32: 0x00, s16: 0x08, s8: 0x10 };
const ALU_OPS: Record<string, { op: number; off?: number }> = {
  '+=': { op: 0x00 },
  '-=': { op: 0x10 },
  '*=': { op: 0x20 },
  '/=': { op: 0x30 },
  '|=': { op: 0x40 },
  '&=': { op: 0x50 },
  '<<=': { op: 0x60 },
  '>>=': { op: 0x70 },
  '%=': { op: 0x90 },
  '^=': { op: 0xa0 },
  '=': { op: 0xb0 },
  's>>=': { op: 0xc0 },
  's/=': { op: 0x30, off: 1 },
  's%=': { op: 0x90, off: 1 },
};
const JMP_OPS: Record<string, number> = {
  '==': 0x10,
  '>': 0x20,
  '>=': 0x30,
  '&': 0x40,
  '!=': 0x50,
  's>': 0x60,
  's>=': 0x70,
  '<': 0xa0,
  '<=': 0xb0,
  's<': 0xc0,
  's<=': 0xd0,
};
const ATOMIC_BY_SYM: Record<string, number> = { '+=': 0x00, '|=': 0x40, '&=': 0x50, '^=': 0xa0 };
const ATOMIC_BY_NAME: Record<string, number> = { add: 0x00, or: 0x40, and: 0x50, xor: 0xa0 };

/** What a line assembles to before labels are known. */
type Pending =
  | { readonly kind: 'insn'; readonly insn: Insn }
  | { readonly kind: 'jump'; readonly insn: Insn; readonly target: string; readonly field: 'off' | 'imm' }
  | { readonly kind: 'call'; readonly name: string }
  | { readonly kind: 'ldfunc'; readonly dst: number; readonly name: string };

interface Ctx {
  readonly loc: SourceLocation;
  readonly opcode: number | undefined;
  /** Kernel syntax prints ld_imm64 values in hex and mov immediates in decimal. */
  readonly kernel: boolean;
}

const fail = (loc: SourceLocation, msg: string): IsaError => new IsaError('SYNTAX', msg, { location: loc });

function num(text: string, loc: SourceLocation, what: string, min: number, max: number): number {
  const neg = text.startsWith('-');
  const body = text.replace(/^[-+]/, '');
  const v = body.startsWith('0x') || body.startsWith('0X') ? parseInt(body.slice(2), 16) : parseInt(body, 10);
  const n = neg ? -v : v;
  if (!Number.isFinite(n) || n < min || n > max) throw new IsaError('OUT_OF_RANGE', `${what} ${text} out of range [${min}, ${max}]`, { location: loc });
  return n;
}
const imm32 = (t: string, loc: SourceLocation): number => num(t, loc, 'immediate', -0x80000000, 0xffffffff) | 0;
const off16 = (sign: string | undefined, t: string | undefined, loc: SourceLocation): number =>
  t === undefined ? 0 : num((sign === '-' ? '-' : '') + t, loc, 'offset', -0x8000, 0x7fff);
const reg = (t: string, loc: SourceLocation): number => {
  const n = Number(t);
  if (n > 11) throw new IsaError('BAD_REGISTER', `no register r${t}`, { location: loc });
  return n;
};
function big(text: string, loc: SourceLocation): bigint {
  const neg = text.startsWith('-');
  const body = text.replace(/^[-+]/, '');
  let v: bigint;
  try {
    v = BigInt(body);
  } catch {
    throw fail(loc, `bad number '${text}'`);
  }
  if (v > 0xffffffffffffffffn) throw new IsaError('OUT_OF_RANGE', `immediate ${text} does not fit in 64 bits`, { location: loc });
  return neg ? -v : v;
}

type Rule = readonly [RegExp, (m: RegExpExecArray, c: Ctx) => Pending[]];
const I = (i: Insn): Pending[] => [{ kind: 'insn', insn: i }];
const re = (s: string): RegExp => new RegExp(`^${s}$`);

/** Memory operand: register and offset. */
const memOf = (m: RegExpExecArray, at: number, loc: SourceLocation): [number, number] => [reg(m[at]!, loc), off16(m[at + 1], m[at + 2], loc)];

const RULES: readonly Rule[] = [
  // exit, calls, jumps
  [re('exit'), () => I(insn(0x95, 0, 0, 0, 0))],
  // callx: an indirect call, the target register in dst (LLVM's syntax; the kernel's log has
  // none of its own: its verifier refuses opcode 0x8d before printing it)
  [re(String.raw`callx\s+(r\d+)`), (m, c) => I(insn(0x8d, reg(m[1]!.slice(1), c.loc), 0, 0, 0))],
  [re(String.raw`call\s+pc\s*([-+]\s*\d+)`), (m, c) => I(insn(0x85, 0, 1, 0, imm32(m[1]!.replace(/\s/g, ''), c.loc)))],
  [
    // kernel syntax: `call bpf_map_lookup_elem#1` (a helper), `call bpf_foo#123` (a kfunc by BTF id)
    re(String.raw`call\s+(${IDENT})#(-?\d+)`),
    (m, c) => I(insn(0x85, 0, m[1] === 'unknown' || helperId(m[1]!) !== undefined ? 0 : 2, 0, imm32(m[2]!, c.loc))),
  ],
  [re(String.raw`call\s+kernel-function#(-?\d+)`), (m, c) => I(insn(0x85, 0, 2, 0, imm32(m[1]!, c.loc)))],
  [re(String.raw`call\s+(${NUM})`), (m, c) => I(insn(0x85, 0, 0, 0, imm32(m[1]!, c.loc)))],
  [re(String.raw`call\s+(${IDENT})`), (m) => [{ kind: 'call', name: m[1]! }]],
  [re(String.raw`(goto|gotol|may_goto)\s+${TARGET}(?:\s*<[^<>]*>)?`), (m) => {
    const code = m[1] === 'goto' ? 0x05 : m[1] === 'gotol' ? 0x06 : 0xe5;
    return [{ kind: 'jump', insn: insn(code, 0, 0, 0, 0), target: m[2]!, field: code === 0x06 ? 'imm' : 'off' }];
  }],
  [
    re(String.raw`if\s+${REG}\s*(==|!=|>=|<=|>|<|s>=|s<=|s>|s<|&)\s*(?:${REG}|(${NUM}))\s+goto\s+${TARGET}(?:\s*<[^<>]*>)?`),
    (m, c) => {
      const cls = m[1] === 'w' ? 0x06 : 0x05;
      const op = JMP_OPS[m[3]!]!;
      const dst = reg(m[2]!, c.loc);
      const x = m[4] !== undefined;
      const i = x ? insn(cls | op | 0x08, dst, reg(m[5]!, c.loc), 0, 0) : insn(cls | op, dst, 0, 0, imm32(m[6]!, c.loc));
      return [{ kind: 'jump', insn: i, target: m[7]!, field: 'off' }];
    },
  ],
  // atomics
  [
    re(String.raw`lock\s+\*\s*${SZ}\s*${MEM}\s*(\+=|\|=|&=|\^=)\s*${REG}`),
    (m, c) => {
      const [dst, off] = memOf(m, 2, c.loc);
      return I(insn(0xc3 | SIZE_BITS[m[1]!]!, dst, reg(m[7]!, c.loc), off, ATOMIC_BY_SYM[m[5]!]!));
    },
  ],
  [
    re(String.raw`${REG}\s*=\s*atomic(?:64)?_fetch_(add|or|and|xor)\(\s*${SZ}\s*${MEM}\s*,\s*${REG}\s*\)`),
    (m, c) => {
      const [dst, off] = memOf(m, 5, c.loc);
      return I(insn(0xc3 | SIZE_BITS[m[4]!]!, dst, reg(m[9]!, c.loc), off, ATOMIC_BY_NAME[m[3]!]! | 1));
    },
  ],
  [
    // LLVM: r2 = xchg_64(r1 + 0x0, r2) / w2 = xchg32_32(r1 + 0x0, w2)
    re(String.raw`${REG}\s*=\s*(xchg_64|xchg32_32)\(\s*r(\d+)\s*(?:${OFF})?\s*,\s*${REG}\s*\)`),
    (m, c) => I(insn(m[3] === 'xchg_64' ? 0xdb : 0xc3, reg(m[4]!, c.loc), reg(m[8]!, c.loc), off16(m[5], m[6], c.loc), 0xe1)),
  ],
  [
    re(String.raw`${REG}\s*=\s*(cmpxchg_64|cmpxchg32_32)\(\s*r(\d+)\s*(?:${OFF})?\s*,\s*[rw]0\s*,\s*${REG}\s*\)`),
    (m, c) => I(insn(m[3] === 'cmpxchg_64' ? 0xdb : 0xc3, reg(m[4]!, c.loc), reg(m[8]!, c.loc), off16(m[5], m[6], c.loc), 0xf1)),
  ],
  [
    // kernel: r2 = atomic64_xchg((u64 *)(r1 +0), r2); r0 = atomic_cmpxchg((u32 *)(r1 +0), r0, r2)
    re(String.raw`${REG}\s*=\s*atomic(?:64)?_(xchg|cmpxchg)\(\s*${SZ}\s*${MEM}\s*,\s*(?:r0\s*,\s*)?${REG}\s*\)`),
    (m, c) => {
      const [dst, off] = memOf(m, 5, c.loc);
      return I(insn(0xc3 | SIZE_BITS[m[4]!]!, dst, reg(m[9]!, c.loc), off, m[3] === 'xchg' ? 0xe1 : 0xf1));
    },
  ],
  [
    re(String.raw`${REG}\s*=\s*load_acquire\(\s*${SZ}\s*${MEM}\s*\)`),
    (m, c) => {
      const [src, off] = memOf(m, 4, c.loc);
      return I(insn(0xc3 | SIZE_BITS[m[3]!]!, reg(m[2]!, c.loc), src, off, 0x100));
    },
  ],
  [
    re(String.raw`store_release\(\s*${SZ}\s*${MEM}\s*,\s*${REG}\s*\)`),
    (m, c) => {
      const [dst, off] = memOf(m, 2, c.loc);
      return I(insn(0xc3 | SIZE_BITS[m[1]!]!, dst, reg(m[6]!, c.loc), off, 0x110));
    },
  ],
  // legacy packet loads
  [re(String.raw`r0\s*=\s*\*\s*${SZ}\s*skb\[\s*(${NUM})\s*\]`), (m, c) => I(insn(0x20 | SIZE_BITS[m[1]!]!, 0, 0, 0, imm32(m[2]!, c.loc)))],
  [
    re(String.raw`r0\s*=\s*\*\s*${SZ}\s*skb\[\s*r(\d+)\s*(?:\+\s*(${NUM}))?\s*\]`),
    (m, c) => I(insn(0x40 | SIZE_BITS[m[1]!]!, 0, reg(m[2]!, c.loc), 0, m[3] === undefined ? 0 : imm32(m[3], c.loc))),
  ],
  // loads and stores
  [
    re(String.raw`${REG}\s*=\s*\*\s*${SZ}\s*${MEM}`),
    (m, c) => {
      const [src, off] = memOf(m, 4, c.loc);
      const sx = m[3]!.startsWith('s');
      return I(insn((sx ? 0x81 : 0x61) | SIZE_BITS[m[3]!]!, reg(m[2]!, c.loc), src, off, 0));
    },
  ],
  [
    re(String.raw`\*\s*${SZ}\s*${MEM}\s*=\s*${REG}`),
    (m, c) => {
      const [dst, off] = memOf(m, 2, c.loc);
      return I(insn(0x63 | SIZE_BITS[m[1]!]!, dst, reg(m[6]!, c.loc), off, 0));
    },
  ],
  [
    re(String.raw`\*\s*${SZ}\s*${MEM}\s*=\s*(${NUM})`),
    (m, c) => {
      const [dst, off] = memOf(m, 2, c.loc);
      return I(insn(0x62 | SIZE_BITS[m[1]!]!, dst, 0, off, imm32(m[5]!, c.loc)));
    },
  ],
  // 64-bit immediates and function/map references
  [
    re(String.raw`r(\d+)\s*=\s*(${NUM})\s+ll`),
    (m, c) => {
      const { lo, hi } = splitImm64(big(m[2]!, c.loc));
      return [
        { kind: 'insn', insn: insn(0x18, reg(m[1]!, c.loc), 0, 0, lo) },
        { kind: 'insn', insn: insn(0, 0, 0, 0, hi) },
      ];
    },
  ],
  [re(String.raw`r(\d+)\s*=\s*(${IDENT})\s+ll`), (m, c) => [{ kind: 'ldfunc', dst: reg(m[1]!, c.loc), name: m[2]! }]],
  // ALU
  [re(String.raw`r(\d+)\s*=\s*(be|le|bswap)(16|32|64)\s+r(\d+)`), (m, c) => {
    const dst = reg(m[1]!, c.loc);
    if (reg(m[4]!, c.loc) !== dst) throw fail(c.loc, 'byte swap source and destination must be the same register');
    const code = m[2] === 'bswap' ? 0xd7 : m[2] === 'be' ? 0xdc : 0xd4;
    return I(insn(code, dst, 0, 0, Number(m[3])));
  }],
  [re(String.raw`${REG}\s*=\s*-\s*([rw])(\d+)`), (m, c) => {
    if (m[3] !== m[1] || m[4] !== m[2]) throw fail(c.loc, 'negation must use the same register on both sides');
    return I(insn(m[1] === 'w' ? 0x84 : 0x87, reg(m[2]!, c.loc), 0, 0, 0));
  }],
  [re(String.raw`${REG}\s*=\s*\(s(8|16|32)\)\s*${REG}`), (m, c) => I(insn(m[1] === 'w' ? 0xbc : 0xbf, reg(m[2]!, c.loc), reg(m[5]!, c.loc), Number(m[3]), 0))],
  [
    re(String.raw`${REG}\s*(\+=|-=|\*=|/=|\|=|&=|<<=|>>=|%=|\^=|=|s>>=|s/=|s%=)\s*(?:${REG}|(${NUM}))`),
    (m, c) => {
      const { op, off = 0 } = ALU_OPS[m[3]!]!;
      // In kernel syntax `r1 = 0x1234` is an ld_imm64 (it prints those in hex, movs in decimal).
      const hexImm = m[6] !== undefined && /^0x/i.test(m[6]);
      if (m[6] !== undefined && m[3] === '=' && m[1] === 'r' && (c.opcode === 0x18 || (c.opcode === undefined && c.kernel && hexImm))) {
        const { lo, hi } = splitImm64(big(m[6], c.loc));
        return [
          { kind: 'insn', insn: insn(0x18, reg(m[2]!, c.loc), 0, 0, lo) },
          { kind: 'insn', insn: insn(0, 0, 0, 0, hi) },
        ];
      }
      const cls = m[1] === 'w' ? 0x04 : 0x07;
      const dst = reg(m[2]!, c.loc);
      if (m[4] !== undefined) return I(insn(cls | op | 0x08, dst, reg(m[5]!, c.loc), off, 0));
      return I(insn(cls | op, dst, 0, off, imm32(m[6]!, c.loc)));
    },
  ],
];

/** Parse the parameter list of a `.func` / `.kfunc` directive: `u64 a, void *p, u32`. */
function parseParams(text: string, loc: SourceLocation): ParamDecl[] {
  const t = text.trim();
  if (t === '' || t === 'void') return [];
  return t.split(',').map((raw) => {
    const p = raw.trim().replace(/\s+/g, ' ');
    if (p === '') throw fail(loc, 'empty parameter');
    const m = /^(.*?[\s*])([A-Za-z_]\w*)$/.exec(p);
    const TYPE_WORDS = /^(u8|u16|u32|u64|s8|s16|s32|s64|int|char|long|short|void|unsigned|signed|bool|__u\d+|__s\d+|size_t)$/;
    if (m && m[1]!.trim() !== '' && !TYPE_WORDS.test(m[2]!) && !/^(struct|union|enum|const)$/.test(m[1]!.trim())) {
      return { type: m[1]!.trim().replace(/\s*\*/g, ' *').replace(/\s+/g, ' '), name: m[2]! };
    }
    return { type: p.replace(/\s*\*/g, ' *') };
  });
}

const DIRECTIVE_FUNC = /^\.(func|kfunc)\s+(?:(global|static)\s+)?([A-Za-z_]\w*)\s*\((.*)\)\s*(.*)$/;

/** Assemble BPF assembly text into a `Program`. */
export function assemble(text: string, opts: AssembleOptions = {}): AssembledProgram {
  const syntax = opts.syntax ?? 'auto';
  const pending: { p: Pending; loc: SourceLocation }[] = [];
  const labels = new Map<string, number>();
  const protos: FuncProtoDecl[] = [];
  const maps: MapDef[] = [];
  let type: ProgType | undefined;
  let license: string | undefined;
  let slot = 0;
  const lines = text.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    let line = lines[ln]!;
    // comments: '//', ';', '/* */', and '#' at line start or after whitespace ('name#1' is kernel syntax)
    line = line.replace(/\/\*.*?\*\//g, ' ').replace(/(\/\/|;).*$/, '').replace(/(^|\s)#.*$/, '$1');
    const indent = line.length - line.trimStart().length;
    let body = line.trim();
    const loc: SourceLocation = { line: ln + 1, column: indent + 1 };
    if (body === '') continue;
    // labels (possibly several, possibly followed by an instruction)
    for (let m = /^([A-Za-z_.$][\w.$]*)\s*:\s*/.exec(body); m; m = /^([A-Za-z_.$][\w.$]*)\s*:\s*/.exec(body)) {
      if (labels.has(m[1]!)) throw new IsaError('DUPLICATE_LABEL', `label '${m[1]}' defined twice`, { location: loc });
      labels.set(m[1]!, slot);
      body = body.slice(m[0].length);
    }
    if (body === '') continue;
    if (body.startsWith('.')) {
      const fm = DIRECTIVE_FUNC.exec(body);
      if (fm) {
        const kind = fm[1] === 'func' ? 'subprog' : 'kfunc';
        if (protos.some((p) => p.name === fm[3])) throw new IsaError('DUPLICATE_LABEL', `prototype of '${fm[3]}' declared twice`, { location: loc });
        const params = parseParams(fm[4]!, loc);
        if (params.length > 12) throw new IsaError('OUT_OF_RANGE', `${fm[3]} has ${params.length} parameters; at most 12`, { location: loc });
        protos.push({ name: fm[3]!, kind, params, ret: fm[5]!.trim() || 'void', ...(kind === 'subprog' ? { linkage: fm[2] === 'global' ? 'global' : 'static' } : {}) });
        continue;
      }
      const mm = /^\.map\s+([A-Za-z_]\w*)\s+(\w+)\s+(\d+)\s+(\d+)\s+(\d+)(?:\s+(\d+))?$/.exec(body);
      if (mm) {
        maps.push({ name: mm[1]!, type: mm[2]!, keySize: Number(mm[3]), valueSize: Number(mm[4]), maxEntries: Number(mm[5]), ...(mm[6] ? { flags: Number(mm[6]) } : {}) });
        continue;
      }
      const tm = /^\.prog_type\s+(\w+)$/.exec(body);
      if (tm) {
        if (!(PROG_TYPES as readonly string[]).includes(tm[1]!)) throw fail(loc, `unknown program type '${tm[1]}'`);
        type = tm[1] as ProgType;
        continue;
      }
      const lm = /^\.license\s+"([^"]*)"$/.exec(body);
      if (lm) {
        license = lm[1]!;
        continue;
      }
      if (/^\.(func|kfunc|map|prog_type|license)\b/.test(body)) throw fail(loc, `malformed directive '${body}'`);
      continue; // .text, .section, .globl, .type, .size, .p2align, .file, .addrsig ...: layout only
    }
    // kernel log / objdump prefixes: "12: (79) ..." or "   0:\tb7 01 00 00 01 00 00 00\tr1 = 0x1"
    let opcode: number | undefined;
    const idx = /^\d+:\s*/.exec(body);
    if (idx) body = body.slice(idx[0].length);
    const raw = /^((?:[0-9a-f]{2} ){7,15}[0-9a-f]{2})\s+/.exec(body);
    if (raw) body = body.slice(raw[0].length);
    const oc = /^\(([0-9a-f]{2})\)\s*/.exec(body);
    if (oc) {
      opcode = parseInt(oc[1]!, 16);
      body = body.slice(oc[0].length);
    }
    if (syntax === 'llvm' && (oc || /\bpc[-+]/.test(body))) throw fail(loc, 'kernel-log syntax in LLVM-syntax input');
    body = body.replace(/\s*<[^<>]*>\s*$/, '');
    let matched: Pending[] | undefined;
    for (const [rx, build] of RULES) {
      const m = rx.exec(body);
      if (m) {
        matched = build(m, { loc, opcode, kernel: syntax === 'kernel' });
        break;
      }
    }
    if (matched === undefined) throw fail(loc, `cannot parse '${body}'`);
    if (opcode !== undefined && matched[0]!.kind === 'insn' && matched[0]!.insn.code !== opcode && opcode !== 0x18)
      throw fail(loc, `the text assembles to opcode ${matched[0]!.insn.code.toString(16).padStart(2, '0')}, not the (${opcode.toString(16).padStart(2, '0')}) given`);
    for (const p of matched) {
      pending.push({ p, loc });
      slot += p.kind === 'ldfunc' ? 2 : 1;
    }
  }

  // Second pass: resolve labels, calls and references.
  const insns: Insn[] = [];
  const sourceLines: number[] = [];
  const relocs: Reloc[] = [];
  const kfuncs = new Set(protos.filter((p) => p.kind === 'kfunc').map((p) => p.name));
  const mapNames = new Set(maps.map((m) => m.name));
  const target = (t: string, pc: number, loc: SourceLocation): number => {
    const s = t.replace(/\s+/g, '');
    if (/^pc[-+]\d+$/.test(s)) return Number(s.slice(2));
    if (/^[-+]/.test(s)) return num(s, loc, 'jump offset', -0x80000000, 0x7fffffff);
    const at = labels.get(s);
    if (at === undefined) throw new IsaError('UNDEFINED_LABEL', `undefined label '${s}'`, { location: loc });
    return at - pc - 1;
  };
  for (const { p, loc } of pending) {
    const pc = insns.length;
    switch (p.kind) {
      case 'insn':
        insns.push(p.insn);
        break;
      case 'jump': {
        const rel = target(p.target, pc, loc);
        if (p.field === 'off' && (rel < -0x8000 || rel > 0x7fff))
          throw new IsaError('OUT_OF_RANGE', `jump offset ${rel} does not fit in 16 bits (use gotol)`, { location: loc });
        // literals, not spreads: every instruction has the one object shape the decoder gives
        const i = p.insn;
        insns.push(p.field === 'off' ? { code: i.code, dst: i.dst, src: i.src, off: rel, imm: i.imm } : { code: i.code, dst: i.dst, src: i.src, off: i.off, imm: rel });
        break;
      }
      case 'call': {
        const at = labels.get(p.name);
        if (at !== undefined) insns.push(insn(0x85, 0, 1, 0, at - pc - 1));
        else if (kfuncs.has(p.name)) {
          insns.push(insn(0x85, 0, 2, 0, 0));
          relocs.push({ insn: pc, kind: 'kfunc', name: p.name });
        } else {
          const id = helperId(p.name);
          if (id === undefined)
            throw new IsaError('UNDEFINED_LABEL', `call to '${p.name}': not a label, a declared .kfunc or a helper name`, { location: loc });
          insns.push(insn(0x85, 0, 0, 0, id));
        }
        break;
      }
      case 'ldfunc': {
        const at = labels.get(p.name);
        if (at !== undefined) {
          insns.push(insn(0x18, p.dst, 4, 0, at - pc - 1), insn(0, 0, 0, 0, 0));
        } else if (mapNames.has(p.name)) {
          insns.push(insn(0x18, p.dst, 1, 0, 0), insn(0, 0, 0, 0, 0));
          relocs.push({ insn: pc, kind: 'map', name: p.name });
        } else throw new IsaError('UNDEFINED_LABEL', `'${p.name}' is neither a label nor a declared .map`, { location: loc });
        sourceLines.push(loc.line);
        break;
      }
    }
    sourceLines.push(loc.line);
  }
  if (insns.length === 0) throw new IsaError('SYNTAX', 'no instructions', { location: { line: lines.length, column: 1 } });

  // Subprograms: call targets, named by the label at their start.
  const names = new Map<number, string>();
  for (const [name, at] of labels) if (!names.has(at)) names.set(at, name);
  if (!names.has(0)) names.set(0, 'main');
  const subprogs = discoverSubprogs(insns, { names }).map((s) => {
    const proto = protos.find((p) => p.kind === 'subprog' && p.name === s.name);
    return proto ? { ...s, argCount: proto.params.length, linkage: proto.linkage ?? 'static' } : s;
  });
  for (const p of protos) {
    if (p.kind === 'subprog' && !subprogs.some((s) => s.name === p.name) && !labels.has(p.name))
      throw new IsaError('UNDEFINED_LABEL', `.func ${p.name} declared but no label '${p.name}' defines it`, { location: { line: 1, column: 1 } });
  }
  return {
    insns,
    subprogs,
    sourceLines,
    ...(protos.length ? { protos } : {}),
    ...(relocs.length ? { relocs } : {}),
    ...(maps.length ? { maps } : {}),
    ...(type !== undefined ? { type } : {}),
    ...(license !== undefined ? { license } : {}),
  };
}
