import type { Arm64Listed } from './jit.js';

/** The JIT's listing as text lines, `offset: word  text`. */
export function formatArm64(listing: readonly Arm64Listed[]): string[] {
  return listing.map((l) => `${l.offset.toString(16).padStart(6)}: ${l.word.toString(16).padStart(8, '0')}  ${l.text}`);
}
