/**
 * Loads a CommonJS bundle through V8's code cache (`vm.Script` cached data): the first run
 * compiles it and, when the command is done, saves the bytecode of every function it compiled;
 * later runs start from that bytecode instead of parsing and compiling again. Node 20 has no
 * `module.enableCompileCache` (22.1+), so this is that cache done by hand, as
 * v8-compile-cache does it.
 *
 * The cache lives beside the bundle (`.cache/`), or in the temporary directory when the package
 * is not writable (a global install read by another user). Its name carries the bundle's
 * content hash (from the build), the Node version, the architecture and whether the command
 * tuned V8's tiering (v8-tiering.ts: V8 refuses data made under other flags); V8 itself rejects data
 * made by another V8 or with other flags (`cachedDataRejected`), and then it is made anew.
 * `BPF_CODE_CACHE=0` in the environment turns it off.
 */
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { tieringTag } from './v8-tiering.js';

/** Directories to keep the cache in, best first; the temporary one only when it is ours alone. */
function cacheDirs(file: string): string[] {
  const dirs = [join(dirname(file), '.cache')];
  const uid = process.getuid?.();
  if (uid !== undefined) dirs.push(join(tmpdir(), `bpf-cli-${uid}`));
  return dirs;
}

function ours(dir: string): boolean {
  try {
    const st = statSync(dir);
    return st.isDirectory() && (process.getuid === undefined || st.uid === process.getuid());
  } catch {
    return false;
  }
}

function saveCache(dirs: readonly string[], name: string, data: Buffer): void {
  for (const dir of dirs) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (!ours(dir)) continue;
      const tmp = join(dir, `${name}.${process.pid}.tmp`);
      writeFileSync(tmp, data);
      renameSync(tmp, join(dir, name)); // whole or not at all, when two runs race
      return;
    } catch {
      // not writable here: try the next place; without any, every run compiles (still correct)
    }
  }
}

/** A bundle loaded through the code cache, and how to save the cache when the bundle has run. */
export interface CachedModule {
  readonly exports: unknown;
  /**
   * Writes the cache (once) when there was none or V8 refused it, with every function compiled
   * so far: call it after the work, so the functions compiled lazily are in it too.
   */
  readonly save: () => void;
}

/**
 * `require(file)`, with V8's code cache. `hash` names the file's content (the build writes it
 * into the manifest), so a rebuilt bundle never meets an old cache; `tag` names the V8 flags
 * the process runs under (v8-tiering.ts). The cache is saved when `save` is called, or when the
 * process exits if `saveOnExit`.
 */
export function loadCached(file: string, hash: string, tag: string, saveOnExit: boolean): CachedModule {
  // BPF_CODE_CACHE=0: compile every time, as plain require() does (bench/oneshot.mjs measures both)
  if (process.env.BPF_CODE_CACHE === '0') return { exports: createRequire(file)(file) as unknown, save: () => {} };
  const source = readFileSync(file, 'utf8');
  const dirs = cacheDirs(file);
  const name = `${basename(file)}.${hash}.${process.version}-${process.arch}${tag}.v8cache`;
  let cachedData: Buffer | undefined;
  for (const dir of dirs) {
    if (!ours(dir)) continue;
    try {
      cachedData = readFileSync(join(dir, name));
      break;
    } catch {
      // none here
    }
  }
  // the CommonJS wrapper on the first line, so line numbers in stack traces stay right
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
  });
  let pending = cachedData === undefined || script.cachedDataRejected === true;
  const save = (): void => {
    if (!pending) return;
    pending = false;
    saveCache(dirs, name, script.createCachedData());
  };
  // after the command has run, so the functions it compiled lazily are in the cache too
  if (pending && saveOnExit) process.once('exit', save);
  const module = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as (e: unknown, r: NodeJS.Require, m: { exports: unknown }, f: string, d: string) => void;
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return { exports: module.exports, save };
}

/** `require(file)`, with V8's code cache, saved when the process exits (see loadCached). */
export function requireCached(file: string, hash: string): unknown {
  return loadCached(file, hash, tieringTag(), true).exports;
}
