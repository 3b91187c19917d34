#!/usr/bin/env node
// Generates src/ctxlayout.ts: the field offsets and sizes of every program context struct, read
// from a Linux source tree's UAPI headers (include/uapi/linux/bpf.h, bpf_perf_event.h; the x86-64
// struct pt_regs they use from the system's asm/ptrace.h) by compiling a declaration of each with clang-19 for the BPF
// target and reading the offsets back from the object's BTF with @bpf/btf.
//
//   node packages/verifier/scripts/gen-ctx-layout.mjs --from /path/to/linux
//
// The access rules over these fields (which program type may read or write what, and with
// which sizes) are code, in src/ctx.ts; src/ctx.test.ts checks them against the running kernel.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { btfString, findByName, parseBtf, resolveId, sizeOf, typeById } from '@bpf/btf';

const at = process.argv.indexOf('--from');
const from = at > 0 ? process.argv[at + 1] : undefined;
if (!from) {
  console.error('usage: gen-ctx-layout.mjs --from LINUX_SOURCE_DIR');
  process.exit(2);
}

// UAPI context structs, and what the kernel's verifier_ops use as the context of the others.
const UAPI = [
  '__sk_buff', 'xdp_md', 'bpf_sock', 'bpf_tcp_sock', 'bpf_xdp_sock', 'bpf_sock_addr', 'bpf_sock_ops',
  'sk_msg_md', 'sk_reuseport_md', 'bpf_perf_event_data', 'bpf_sysctl', 'bpf_sockopt',
  'bpf_cgroup_dev_ctx', 'bpf_sk_lookup', 'bpf_flow_keys', 'pt_regs',
];
// Not UAPI: netfilter's context is two pointers (include/net/netfilter/nf_bpf_link.h), declared
// here in the same shape so that its size and offsets come out of the same compiler.
const EXTRA = 'struct bpf_nf_ctx { const void *state; void *skb; };\n';

const dir = mkdtempSync(join(tmpdir(), 'ctx-layout-'));
const src = join(dir, 'ctx.c');
writeFileSync(
  src,
  `#include <linux/bpf.h>\n#include <linux/bpf_perf_event.h>\n${EXTRA}` +
    [...UAPI, 'bpf_nf_ctx'].map((s, k) => `struct ${s} *ctx_${k};`).join('\n') +
    '\n',
);
const obj = join(dir, 'ctx.o');
// The tree's own BPF headers first; linux/types.h and asm/ptrace.h (struct pt_regs, unchanged on
// x86-64 for decades) from the system's installed UAPI headers, since an unexported tree's
// include/uapi does not compile on its own.
const inc = join(dir, 'include');
mkdirSync(join(inc, 'linux'), { recursive: true });
for (const h of ['bpf.h', 'bpf_common.h', 'bpf_perf_event.h']) copyFileSync(join(from, 'include/uapi/linux', h), join(inc, 'linux', h));
execFileSync('clang-19', ['-target', 'bpfel', '-g', '-c', '-O0', '-I', inc, '-idirafter', '/usr/include/x86_64-linux-gnu', src, '-o', obj]);
// The .BTF section of the object (a minimal ELF64 section walk).
const elf = readFileSync(obj);
const shoff = Number(elf.readBigUInt64LE(0x28));
const shentsize = elf.readUInt16LE(0x3a);
const shnum = elf.readUInt16LE(0x3c);
const shstr = elf.readUInt16LE(0x3e);
const section = (k) => ({ name: elf.readUInt32LE(shoff + k * shentsize), off: Number(elf.readBigUInt64LE(shoff + k * shentsize + 0x18)), size: Number(elf.readBigUInt64LE(shoff + k * shentsize + 0x20)) });
const strs = section(shstr);
let btfBytes;
for (let k = 0; k < shnum; k++) {
  const s = section(k);
  const name = elf.toString('latin1', strs.off + s.name, elf.indexOf(0, strs.off + s.name));
  if (name === '.BTF') btfBytes = new Uint8Array(elf.subarray(s.off, s.off + s.size));
}
if (!btfBytes) throw new Error('no .BTF in the compiled object');
const btf = parseBtf(btfBytes);

/** Named members, anonymous structs and unions flattened, arrays kept whole. */
function fields(id, base, out) {
  const t = typeById(btf, resolveId(btf, id));
  for (const m of t.members) {
    const name = btfString(btf, m.nameOff);
    const bitOff = t.kindFlag ? m.offset & 0xffffff : m.offset;
    const bitSize = t.kindFlag ? m.offset >>> 24 : 0;
    const off = base + bitOff / 8;
    if (!name) {
      const mt = typeById(btf, resolveId(btf, m.type));
      if (mt && (mt.kind === 'STRUCT' || mt.kind === 'UNION')) fields(m.type, off, out);
      continue; // padding bitfields (__bpf_md_ptr's `__u64 :64`)
    }
    if (bitSize) throw new Error(`bitfield ${name}: not expected in a context struct`);
    out.push([name, off, sizeOf(btf, m.type)]);
  }
  return out;
}

const rows = [];
for (const s of [...UAPI, 'bpf_nf_ctx']) {
  const [id] = findByName(btf, s, 'STRUCT');
  if (id === undefined) throw new Error(`struct ${s} not found`);
  const fs = fields(id, 0, []);
  rows.push(`  ${/^\w+$/.test(s) ? s : `'${s}'`}: {\n    size: ${sizeOf(btf, id)},\n    fields: {\n${fs.map(([n, o, z]) => `      ${n}: [${o}, ${z}],`).join('\n')}\n    },\n  },`);
}
const version = (() => {
  try {
    const mk = readFileSync(join(from, 'Makefile'), 'utf8');
    const v = (k) => new RegExp(`^${k} = (\\S*)`, 'm').exec(mk)?.[1] ?? '';
    return `${v('VERSION')}.${v('PATCHLEVEL')}.${v('SUBLEVEL')}`;
  } catch {
    return 'unknown';
  }
})();
writeFileSync(
  join(dirname(fileURLToPath(import.meta.url)), '../src/ctxlayout.ts'),
  `// Generated by scripts/gen-ctx-layout.mjs from the UAPI headers of Linux ${version}
// (include/uapi/linux/bpf.h, bpf_perf_event.h; x86-64 struct pt_regs from the system's asm/ptrace.h), compiled with
// clang-19 for BPF and read back from BTF; do not edit by hand. Offsets and sizes in bytes;
// anonymous unions flattened, arrays whole.

/** One context struct: its size and each named field as [offset, size]. */
export interface CtxStruct {
  readonly size: number;
  readonly fields: Readonly<Record<string, readonly [number, number]>>;
}

export const CTX_LAYOUT = {
${rows.join('\n')}
} as const satisfies Record<string, CtxStruct>;

export type CtxStructName = keyof typeof CTX_LAYOUT;
`,
);
console.log(`wrote src/ctxlayout.ts: ${rows.length} structs (Linux ${version})`);
