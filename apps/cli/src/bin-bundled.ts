/**
 * The entry of the shipped `bpf` command, bundled by scripts/bundle.mjs into dist/bpf/bin.cjs
 * with the manifest and the list of command groups put in place of the two constants below.
 * The tsc output of this file is never run; src/bin.ts is the unbundled command.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { requireCached } from './code-cache.js';
import { provideKernel } from './kernel-loader.js';
import { launch, type GroupRun, type Manifest } from './launch.js';
import { tuneTiering } from './v8-tiering.js';

/** One bundle per command: its file (beside this one), content hash, and module format. */
interface Group {
  readonly file: string;
  readonly hash: string;
  readonly format: 'cjs' | 'esm';
}
declare const BPF_MANIFEST: Manifest;
declare const BPF_GROUPS: Readonly<Record<string, Group>>;

async function load(name: string): Promise<GroupRun> {
  const g = BPF_GROUPS[name]!;
  const file = join(__dirname, g.file);
  // commands that use native code or the kernel keep those packages outside the bundle, as
  // ES modules, which vm.Script cannot load: they come through import(), without the code cache
  const mod = (g.format === 'cjs' ? requireCached(file, g.hash) : await import(pathToFileURL(file).href)) as { run: GroupRun };
  return mod.run;
}

// `bpf disasm big.o | head` closes the pipe early: stop quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
// commands run through the code cache cannot import() @bpf/kernel themselves (kernel-loader.ts)
provideKernel(() => import('@bpf/kernel'));
// before any command's code runs (see v8-tiering.ts)
tuneTiering(process.argv.slice(2));
void launch(process.argv.slice(2), BPF_MANIFEST, load).then((code) => {
  process.exitCode = code;
});
