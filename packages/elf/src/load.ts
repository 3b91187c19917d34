/**
 * `loadPrograms`: bytes in, loadable programs out: parse, link (subprograms, maps, global
 * data), and resolve what needs BTF when the object and a kernel BTF allow it.
 */
import type { ElfProgram } from './link.js';
import { linkPrograms } from './link.js';
import { parseElf } from './object.js';

export interface LoadOptions {
  /** Raw vmlinux BTF (`/sys/kernel/btf/vmlinux`), to resolve externs and CO-RE relocations. */
  readonly kernelBtf?: Uint8Array;
}

/** Parse an object and return its entry programs, linked as libbpf links them. */
export function loadPrograms(bytes: Uint8Array, _opts: LoadOptions = {}): ElfProgram[] {
  const obj = parseElf(bytes);
  return linkPrograms(obj);
}
