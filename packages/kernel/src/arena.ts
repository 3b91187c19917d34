/**
 * Arena maps as libbpf prepares them: the `__arena` global variables' initial bytes copied into
 * the arena through a shared mapping of it (bpf_object__create_maps mmaps every ARENA map), and
 * the probe that says where in the arena libbpf puts them (FEAT_LDIMM64_FULL_RANGE_OFF).
 */
import { createMap, type KernelMap } from './maps.js';
import { addr, bpfRaw, closeFd, KernelError, nativeLib } from './syscall.js';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
/**
 * libbpf maps an arena with `map_extra` MAP_FIXED at that address; here MAP_FIXED_NOREPLACE,
 * so an address this process already uses is refused (EEXIST) instead of replaced.
 */
const MAP_FIXED_NOREPLACE = 0x100000;

interface Mmap {
  readonly mmap: (addr: bigint, len: number, prot: number, flags: number, fd: number, off: number) => bigint;
  readonly munmap: (addr: bigint, len: number) => number;
  readonly memcpy: (dst: bigint, src: Uint8Array, n: number) => bigint;
}
let mm: Mmap | undefined;
function mmapLib(): Mmap {
  if (mm) return mm;
  const { k } = nativeLib();
  const libc = k.load('libc.so.6');
  mm = {
    mmap: libc.func('int64_t mmap(uint64_t addr, size_t len, int prot, int flags, int fd, int64_t off)') as Mmap['mmap'],
    munmap: libc.func('int munmap(uint64_t addr, size_t len)') as Mmap['munmap'],
    memcpy: libc.func('uint64_t memcpy(uint64_t dst, const uint8_t *src, size_t n)') as Mmap['memcpy'],
  };
  return mm;
}

/**
 * Write `data` at byte `offset` of an arena map, as libbpf does right after creating it: map the
 * arena (`bytes` long, at `mapExtra` when non-zero, the user address the programs see), copy,
 * unmap. The pages the copy touched stay in the arena. Throws KernelError (command `MAP_CREATE`,
 * the errno of mmap) when the arena cannot be mapped.
 */
export function writeArena(map: KernelMap, bytes: number, data: Uint8Array, offset: number, mapExtra = 0n): void {
  if (offset < 0 || offset + data.length > bytes) throw new KernelError('MAP_CREATE', 7, `map '${map.spec.name ?? ''}': ${data.length} bytes at ${offset} do not fit the arena's ${bytes}`);
  const m = mmapLib();
  const flags = MAP_SHARED | (mapExtra !== 0n ? MAP_FIXED_NOREPLACE : 0);
  const at = BigInt(m.mmap(mapExtra, bytes, PROT_READ | PROT_WRITE, flags, map.fd, 0));
  if (at === -1n) throw new KernelError('MAP_CREATE', nativeLib().k.errno(), `map '${map.spec.name ?? ''}': failed to mmap arena`);
  try {
    if (mapExtra !== 0n && at !== mapExtra) throw new KernelError('MAP_CREATE', 17, `map '${map.spec.name ?? ''}': arena mapped at 0x${at.toString(16)}, not at map_extra 0x${mapExtra.toString(16)}`);
    if (data.length > 0) m.memcpy(at + BigInt(offset), data, data.length);
  } finally {
    m.munmap(at, bytes);
  }
}

let fullRange: boolean | undefined;
/**
 * Whether the kernel takes ld_imm64 map-value offsets of 2^29 and more (libbpf's
 * probe_ldimm64_full_range_off): a socket filter loading `map_value(array) + 2^30` fails with
 * "direct value offset of ..." on kernels that limit them, else with "invalid access to map
 * value pointer". Then libbpf puts `__arena` globals at the end of the arena instead of its
 * start. False when the probe cannot run.
 */
export function ldimm64FullRangeOffsets(): boolean {
  if (fullRange !== undefined) return fullRange;
  fullRange = false;
  let map: KernelMap | undefined;
  try {
    map = createMap({ type: 'array', keySize: 4, valueSize: 1, maxEntries: 1, name: 'arr' });
    const insns = Buffer.alloc(24);
    insns.writeUInt8(0x18, 0);
    insns.writeUInt8(0x21, 1); // dst r1, src BPF_PSEUDO_MAP_VALUE (2)
    insns.writeInt32LE(map.fd, 4);
    insns.writeInt32LE(1 << 30, 12);
    insns.writeUInt8(0x95, 16);
    const lic = Buffer.from('GPL\0');
    const log = Buffer.alloc(1024);
    const attr = Buffer.alloc(128);
    attr.writeUInt32LE(1, 0);
    attr.writeUInt32LE(3, 4);
    attr.writeBigUInt64LE(addr(insns), 8);
    attr.writeBigUInt64LE(addr(lic), 16);
    attr.writeUInt32LE(1, 24);
    attr.writeUInt32LE(log.length, 28);
    attr.writeBigUInt64LE(addr(log), 32);
    const { result } = bpfRaw('PROG_LOAD', attr);
    if (result >= 0) closeFd(result);
    else {
      const text = log.subarray(0, Math.max(0, log.indexOf(0))).toString();
      fullRange = !text.includes('direct value offset of') && text.includes('invalid access to map value pointer');
    }
  } catch {
    // no bpf(): keep false
  } finally {
    map?.close();
  }
  return fullRange;
}
