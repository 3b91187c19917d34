import type { Listed } from './emit.js';

/** The JIT's listing as text lines, `offset: bytes  text` like llvm-objdump's. */
export function formatX86(listing: readonly Listed[]): string[] {
  return listing.map((l) => `${l.offset.toString(16).padStart(6)}: ${l.bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ').padEnd(30)} ${l.text}`);
}
