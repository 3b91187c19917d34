/**
 * Map addresses in `ld_imm64` lines. By the time the kernel's verifier prints a program, the
 * loader's map references have become what they load: a map's kernel address
 * (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX) or the address of its value plus the offset
 * (BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX_VALUE), printed as `r1 = 0xffff888161ef9e00`
 * (root sees them; the state after the line moves to its column with them). Ours prints the
 * encoded immediate unless given the addresses, e.g. read back from the kernel's own log of the
 * same program, to compare the two logs byte for byte.
 */
import type { Insn, MapDef, Program } from '@bpf/isa';

/**
 * The kernel addresses of one map: of the map itself, and of its value (array maps, global
 * data); or, under a kernel symbol's name (`__ksym`, BPF_PSEUDO_BTF_ID), the symbol's.
 */
export interface MapAddresses {
  readonly map?: bigint;
  readonly value?: bigint;
  readonly ksym?: bigint;
}

const MAP_FD = 1;
const MAP_VALUE = 2;
const BTF_ID = 3;
const MAP_IDX = 5;
const MAP_IDX_VALUE = 6;

/**
 * The name of the map (or kernel symbol) the ld_imm64 at `pc` names: its relocation's, or (no
 * relocation list) the map its imm indexes.
 */
export function mapNameAt(program: Program, maps: readonly MapDef[], pc: number): string | undefined {
  const r = program.relocs?.find((x) => x.insn === pc && (x.kind === 'map' || x.kind === 'map_value' || x.kind === 'ksym'));
  if (r) return r.name;
  const i = program.insns[pc]!;
  return program.relocs === undefined && i.src !== BTF_ID ? maps[i.imm]?.name : undefined;
}

/** What the kernel prints for the ld_imm64 `i` at `pc` given the addresses (undefined: not a map reference, or no address). */
export function mapLoadValue(i: Insn, next: Insn | undefined, name: string | undefined, addrs: Readonly<Record<string, MapAddresses>>): bigint | undefined {
  if (name === undefined || !Object.hasOwn(addrs, name)) return undefined;
  const a = addrs[name]!;
  if (i.src === BTF_ID) return a.ksym;
  if (i.src === MAP_FD || i.src === MAP_IDX) return a.map;
  if ((i.src === MAP_VALUE || i.src === MAP_IDX_VALUE) && a.value !== undefined) return BigInt.asUintN(64, a.value + BigInt((next?.imm ?? 0) >>> 0));
  return undefined;
}

/**
 * The map addresses a kernel log of `program` shows: every `ld_imm64` line (instruction lines and
 * the level-2 live-registers table) naming a map gives its address, or its value's (the printed
 * address less the offset), or a kernel symbol's. Pass the result as `verify`'s `mapAddresses` to print the same.
 */
export function mapAddressesFromLog(program: Program, log: string, maps: readonly MapDef[] = program.maps ?? []): Record<string, MapAddresses> {
  const out: Record<string, { map?: bigint; value?: bigint; ksym?: bigint }> = {};
  for (const m of log.matchAll(/^ *(\d+): (?:[.0-9]{10} )?\(18\) r\d+ = 0x([0-9a-f]+)/gm)) {
    const pc = Number(m[1]);
    const i = program.insns[pc];
    if (i === undefined || i.code !== 0x18) continue;
    const name = mapNameAt(program, maps, pc);
    if (name === undefined) continue;
    const v = BigInt(`0x${m[2]!}`);
    const a = (out[name] ??= {});
    if (i.src === BTF_ID) a.ksym = v;
    else if (i.src === MAP_FD || i.src === MAP_IDX) a.map = v;
    else if (i.src === MAP_VALUE || i.src === MAP_IDX_VALUE) a.value = BigInt.asUintN(64, v - BigInt((program.insns[pc + 1]?.imm ?? 0) >>> 0));
  }
  return out;
}
