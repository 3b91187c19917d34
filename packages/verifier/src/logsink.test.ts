import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble } from '@bpf/isa';
import { fileLines, firstLineDifference, firstLogDifference, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';

/** A counted loop walked to its end: a level-2 log of tens of thousands of lines. */
const LOOP = assemble('r0 = 0\nr1 = 0\nr1 += 1\nif r1 < 1500 goto -2\nexit');
const REJECTED = assemble('r1 = 0\nr1 += 1\nif r1 < 1500 goto -2\nr0 = r2\nexit');

/** The pieces a log sink is given, and the result. */
function sunk(p: typeof LOOP, logLevel: 0 | 1 | 2): { pieces: string[]; log: string; accepted: boolean; logTrueSize: number } {
  const pieces: string[] = [];
  const r = verify(p, { logLevel, logSink: (text) => pieces.push(text) });
  return { pieces, log: r.log, accepted: r.accepted, logTrueSize: r.logTrueSize };
}

describe('logSink: the log handed over in pieces, never held whole', () => {
  it.each([0, 1, 2] as const)('level %i: the pieces are the log, result.log is empty', (level) => {
    for (const p of [LOOP, REJECTED]) {
      const whole = verify(p, { logLevel: level });
      const s = sunk(p, level);
      expect(s.accepted).toBe(whole.accepted);
      expect(s.log).toBe('');
      expect(s.pieces.join('')).toBe(whole.log);
      expect(s.logTrueSize).toBe(whole.logTrueSize);
    }
  });

  it('takes no logSize: the sink is given the whole log', () => {
    expect(() => verify(LOOP, { logLevel: 2, logSize: 1 << 20, logSink: () => undefined })).toThrow(RangeError);
  });

  it('level 2: the pieces come while the program is verified, some thousands of lines each', () => {
    const s = sunk(LOOP, 2);
    expect(s.pieces.length).toBeGreaterThan(3);
    for (const piece of s.pieces) expect(piece.split('\n').length).toBeLessThan(8192);
  });

  it('testkit compares two logs from files a piece at a time, as firstLogDifference compares strings', () => {
    const dir = tempDir('logsink-');
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    const ours = verify(LOOP, { logLevel: 2 }).log;
    const changed = ours.replace('2: (07) r1 += 1', '2: (07) r1 += 2');
    writeFileSync(a, ours);
    writeFileSync(b, ours);
    expect(firstLineDifference(fileLines(a), fileLines(b))).toBeUndefined();
    writeFileSync(b, changed);
    expect(firstLineDifference(fileLines(a), fileLines(b))).toEqual(firstLogDifference(ours, changed));
    // read a few bytes at a time: lines and UTF-8 characters cut between reads
    writeFileSync(b, `${changed}…\n`);
    expect([...fileLines(b, 5)]).toEqual(`${changed}…`.split('\n'));
    // one side ends first
    writeFileSync(b, ours.slice(0, ours.lastIndexOf('\n', ours.length - 2) + 1));
    expect(firstLineDifference(fileLines(a), fileLines(b))).toEqual(firstLogDifference(ours, ours.slice(0, ours.lastIndexOf('\n', ours.length - 2) + 1)));
  });
});
