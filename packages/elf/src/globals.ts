/**
 * Global variables a host sets before loading, as a libbpf skeleton's `skel->rodata->x = v`
 * or cilium/ebpf's `VariableSpec.Set` do: the initial bytes of the `.data*`, `.rodata*` or
 * `.bss*` map holding the variable are rewritten in the object's byte order. Tools size
 * their programs this way (perf's `num_cpu`, bpftool's `num_metric`), and a `.rodata`
 * value is a constant the verifier sees.
 */
import type { ElfObject } from './object.js';
import type { ElfMap } from './maps.js';
import { ElfError } from './errors.js';

/**
 * Value of one global variable: an integer for an integer variable (1, 2, 4 or 8 bytes), or the
 * variable's bytes as they are to be stored, exactly its size, for any variable (a struct set
 * whole, as cilium/ebpf's `VariableSpec.Set` writes a Go struct; pwru sets its `CFG` so).
 */
export type GlobalValue = number | bigint | Uint8Array;

/** Maps with the named variables set; every name must be one variable of global data. */
export function setGlobals(obj: ElfObject, maps: readonly ElfMap[], values: Readonly<Record<string, GlobalValue>>): ElfMap[] {
  const out = [...maps];
  for (const [name, given] of Object.entries(values)) {
    const syms = obj.symbols.filter((s) => s.name === name && (s.type === 'object' || s.type === 'notype') && out.some((m) => m.kind === 'data' && m.sectionIndex === s.shndx));
    if (syms.length === 0) throw new ElfError('BAD_OPTION', `no global variable ${name} in the object's .data, .rodata or .bss sections`);
    if (syms.length > 1) throw new ElfError('BAD_OPTION', `${syms.length} global variables are named ${name} (${syms.map((s) => obj.sections[s.shndx]?.name).join(', ')})`);
    const sym = syms[0]!;
    const k = out.findIndex((m) => m.kind === 'data' && m.sectionIndex === sym.shndx);
    const m = out[k]!;
    const place = { section: m.section, ...(obj.sections[sym.shndx] ? { byteOffset: obj.sections[sym.shndx]!.offset + sym.value } : {}) };
    const size = sym.size;
    const bytes = given instanceof Uint8Array ? given : integerBytes(name, size, given, obj.endian, place);
    if (bytes.length !== size) throw new ElfError('BAD_OPTION', `${name} is ${size} bytes; ${bytes.length} bytes given`, place);
    const data = (m.data ?? new Uint8Array(m.valueSize)).slice();
    if (sym.value + size > data.length) throw new ElfError('BAD_OPTION', `${name} (${size} bytes at ${sym.value}) is outside ${m.section} (${data.length} bytes)`, place);
    data.set(bytes, sym.value);
    out[k] = { ...m, data };
  }
  return out;
}

/** An integer as the `size` bytes C would store it, in the object's byte order. */
function integerBytes(name: string, size: number, given: number | bigint, endian: ElfObject['endian'], place: { readonly section: string; readonly byteOffset?: number }): Uint8Array {
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new ElfError('BAD_OPTION', `${name} is ${size} bytes; only integers of 1, 2, 4 or 8 bytes can be set (or give its bytes)`, place);
  if (typeof given === 'number' && !Number.isSafeInteger(given)) throw new ElfError('BAD_OPTION', `${name}: ${given} is not an integer`, place);
  const v = BigInt(given);
  const bits = BigInt(size * 8);
  // as C assigns it: any value of the signed or the unsigned type of that size
  if (v < -(1n << (bits - 1n)) || v >= 1n << bits) throw new ElfError('BAD_OPTION', `${name}: ${v} does not fit ${size} bytes`, place);
  const u = BigInt.asUintN(size * 8, v);
  const out = new Uint8Array(size);
  for (let b = 0; b < size; b++) {
    const shift = BigInt(8 * (endian === 'little' ? b : size - 1 - b));
    out[b] = Number((u >> shift) & 0xffn);
  }
  return out;
}
