/**
 * Against the oracles: for every encoding llvm-mc-19 knows, our bytes equal llvm-mc's and our
 * text equals llvm-objdump-19's (`--mcpu=v4`); both byte orders.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { llvmMcBytes, run, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { assemble, decode, encode, formatInsn } from './index.js';

/** Every instruction form llvm-mc-19 accepts, in LLVM syntax. */
export function allLlvmForms(): string[] {
  const lines: string[] = [];
  const alu = ['+=', '-=', '*=', '/=', '|=', '&=', '<<=', '>>=', '%=', '^=', '=', 's>>=', 's/=', 's%='];
  for (const r of ['r', 'w']) {
    for (const op of alu) lines.push(`${r}1 ${op} ${r}2`, `${r}3 ${op} 5`, `${r}4 ${op} -7`);
    lines.push(`${r}1 = -${r}1`, `${r}5 = (s8)${r}6`, `${r}5 = (s16)${r}6`);
  }
  lines.push('r5 = (s32)r6', 'r1 = 0x7fffffff', 'r9 = -2147483648');
  for (const b of [16, 32, 64]) lines.push(`r1 = be${b} r1`, `r2 = le${b} r2`, `r3 = bswap${b} r3`);
  for (const sz of ['u8', 'u16', 'u32', 'u64']) {
    const w = sz === 'u64' ? 'r' : 'w';
    lines.push(`${w}2 = *(${sz} *)(r1 + 4)`, `${w}0 = *(${sz} *)(r10 - 512)`, `*(${sz} *)(r10 - 8) = ${w}1`, `*(${sz} *)(r2 + 32767) = 5`, `*(${sz} *)(r3 - 32768) = -1`);
  }
  for (const sz of ['s8', 's16', 's32']) lines.push(`r2 = *(${sz} *)(r1 + 4)`);
  for (const [s, w] of [['u32', 'w'], ['u64', 'r']] as const) {
    for (const op of ['+=', '|=', '&=', '^=']) lines.push(`lock *(${s} *)(r1 + 16) ${op} ${w}2`);
    for (const op of ['add', 'or', 'and', 'xor']) lines.push(`${w}3 = atomic_fetch_${op}((${s} *)(r1 - 8), ${w}3)`);
  }
  lines.push('r2 = xchg_64(r1 + 8, r2)', 'w2 = xchg32_32(r1 - 8, w2)', 'r0 = cmpxchg_64(r1 + 0, r0, r2)', 'w0 = cmpxchg32_32(r3 + 4, w0, w4)');
  const conds = ['==', '!=', '>', '>=', '<', '<=', 's>', 's>=', 's<', 's<=', '&'];
  for (const r of ['r', 'w']) for (const c of conds) lines.push(`if ${r}1 ${c} ${r}2 goto +1`, `if ${r}3 ${c} -3 goto -1`);
  lines.push('goto +3', 'goto -32768', 'gotol +70000', 'gotol -2', 'may_goto +2', 'call 1', 'call 211', 'exit');
  lines.push('r1 = 0x123456789abcdef0 ll', 'r2 = 0 ll', 'r3 = -1 ll', 'r0 = *(u8 *)skb[4]', 'r0 = *(u16 *)skb[8]', 'r0 = *(u32 *)skb[12]', 'r0 = *(u8 *)skb[r1]', 'r0 = *(u32 *)skb[r7]');
  return lines.filter((l) => l !== 'gotol +70000'); // llvm-mc-19 limits gotol's operand to 16 bits
}

describe.skipIf(skipWithout('llvm-mc-19', 'llvm-objdump-19'))('LLVM agreement', () => {
  const forms = allLlvmForms();
  const text = forms.join('\n') + '\n';
  for (const endian of ['little', 'big'] as const) {
    it(`assembles ${forms.length} forms to llvm-mc's bytes (${endian}-endian)`, () => {
      const ours = encode(assemble(text).insns, { endian });
      const theirs = llvmMcBytes(text, { bigEndian: endian === 'big' });
      expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
    });
  }
  it("prints each instruction as llvm-objdump-19 --mcpu=v4 does", () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.s'), text);
    run('llvm-mc-19', ['-triple', 'bpfel', '-mcpu=v4', '-filetype=obj', '-o', join(dir, 'a.o'), join(dir, 'a.s')]);
    const dump = run('llvm-objdump-19', ['-d', '--no-show-raw-insn', '--mcpu=v4', join(dir, 'a.o')]);
    const theirs = [...dump.matchAll(/^ *(\d+):\t(.*)$/gm)].map((m) => [Number(m[1]), m[2]!.replace(/ <[^<>]*>$/, '')] as const);
    const insns = decode(llvmMcBytes(text));
    const ours = theirs.map(([idx]) => [idx, formatInsn(insns, idx, { syntax: 'llvm' })] as const);
    expect(ours).toEqual(theirs);
    expect(theirs.length).toBeGreaterThan(180);
  });
  it("callx rN (r0..r10): llvm-mc-19's bytes in both byte orders, from either syntax, and back from llvm-objdump-19", () => {
    const text = Array.from({ length: 11 }, (_, n) => `callx r${n}`).join('\n') + '\n';
    for (const endian of ['little', 'big'] as const) {
      const theirs = Buffer.from(llvmMcBytes(text, { bigEndian: endian === 'big' })).toString('hex');
      for (const syntax of ['llvm', 'kernel', 'auto'] as const) expect(Buffer.from(encode(assemble(text, { syntax }).insns, { endian })).toString('hex'), `${syntax}, ${endian}`).toBe(theirs);
    }
    // a listing with kernel-log prefixes; an opcode prefix that says otherwise is refused
    expect(assemble('3: (8d) callx r3', { syntax: 'kernel' }).insns).toEqual([{ code: 0x8d, dst: 3, src: 0, off: 0, imm: 0 }]);
    expect(() => assemble('(85) callx r3', { syntax: 'kernel' })).toThrow(/opcode 8d, not the \(85\)/);
    expect(() => assemble('callx r12')).toThrow(/no register r12/);
    const dir = tempDir();
    writeFileSync(join(dir, 'c.s'), text);
    run('llvm-mc-19', ['-triple', 'bpfel', '-filetype=obj', '-o', join(dir, 'c.o'), join(dir, 'c.s')]);
    const body = run('llvm-objdump-19', ['-d', join(dir, 'c.o')]).split('\n').filter((l) => /^ *\d+:/.test(l)).join('\n');
    expect(body).toContain('callx r10');
    expect(Buffer.from(encode(assemble(body).insns)).toString('hex')).toBe(Buffer.from(llvmMcBytes(text)).toString('hex'));
  });
  it('assembles objdump output back to the same bytes', () => {
    const bytes = llvmMcBytes(text);
    const dir = tempDir();
    writeFileSync(join(dir, 'a.s'), text);
    run('llvm-mc-19', ['-triple', 'bpfel', '-mcpu=v4', '-filetype=obj', '-o', join(dir, 'a.o'), join(dir, 'a.s')]);
    const dump = run('llvm-objdump-19', ['-d', '--mcpu=v4', join(dir, 'a.o')]);
    const body = dump.split('\n').filter((l) => /^ *\d+:/.test(l)).join('\n');
    expect(Buffer.from(encode(assemble(body).insns)).toString('hex')).toBe(Buffer.from(bytes).toString('hex'));
  });
});
