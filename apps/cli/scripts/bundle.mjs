#!/usr/bin/env node
// The shipped `bpf` command (package.json "bin"): esbuild bundles of the tsc output in dist/,
// written to dist/bpf/:
//  - bin.cjs: the entry, with a manifest (version, `bpf --help`, every command's --help) made
//    here by loading the commands once, so `--version` and `--help` load nothing else;
//  - <command>.cjs: one bundle per command group, its code and the @bpf packages it uses, loaded
//    through V8's code cache (src/code-cache.ts). A command that uses native code or the kernel
//    (koffi, @bpf/kernel, the JITs' `node` entry points, which find files beside themselves)
//    keeps those packages external and is an ES module, <command>.mjs, loaded by import().
// Run after `tsc -b` (the package's build script does). `--metafile` prints what each holds.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(pkg, 'dist');
const out = join(dist, 'bpf');
const EXTERNAL = ['koffi', '@bpf/kernel', '@bpf/jit-x86/node', '@bpf/jit-arm64/node'];
const common = { bundle: true, platform: 'node', target: 'node20', write: false, logLevel: 'warning', legalComments: 'none', minifyWhitespace: true, minifySyntax: true, absWorkingDir: pkg };

const { commands } = await import(pathToFileURL(join(dist, 'commands/index.js')).href);
const { mainHelp, VERSION } = await import(pathToFileURL(join(dist, 'cli.js')).href);
const { helpText } = await import(pathToFileURL(join(dist, 'dispatch.js')).href);

mkdirSync(out, { recursive: true });
/** Each file whole or not at all: test files build this concurrently while others run it. */
const put = (name, text, mode = 0o644) => {
  const tmp = join(out, `.${name}.${process.pid}`);
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, join(out, name));
};
const hash = (text) => createHash('sha256').update(text).digest('hex').slice(0, 16);
const groups = {};
const sizes = [];

// `bpf veristat`'s workers: their code as CommonJS (V8's code cache, as the command groups have
// it), and the entry each worker thread starts on, which loads it (src/veristat-worker.ts)
const workFile = 'veristat-work.cjs';
const work = await build({ ...common, stdin: { contents: `export * from ${JSON.stringify(join(dist, 'veristat-work.js'))};\n`, resolveDir: pkg, sourcefile: 'veristat-work-entry.js', loader: 'js' }, format: 'cjs', external: EXTERNAL, metafile: true });
if (Object.values(work.metafile.inputs).some((i) => i.imports.some((x) => x.external && EXTERNAL.some((e) => x.path === e || x.path.startsWith(`${e}/`)))))
  throw new Error(`${workFile} must not import ${EXTERNAL.join(', ')} itself (an ES module): veristat-worker.mjs hands @bpf/kernel to it`);
put(workFile, work.outputFiles[0].text);
const workHash = hash(work.outputFiles[0].text);
sizes.push(`${workFile} ${(work.outputFiles[0].text.length / 1024).toFixed(0)} KiB`);
const workerFile = 'veristat-worker.mjs';
const worker = await build({ ...common, entryPoints: [join(dist, 'veristat-worker.js')], format: 'esm', external: EXTERNAL, define: { BPF_VERISTAT_WORK: JSON.stringify({ file: `./${workFile}`, hash: workHash }) }, banner: { js: "import { createRequire as __bpfRequire } from 'node:module'; const require = __bpfRequire(import.meta.url);" } });
put(workerFile, worker.outputFiles[0].text);
sizes.push(`${workerFile} ${(worker.outputFiles[0].text.length / 1024).toFixed(0)} KiB`);
// the veristat command starts its workers on that entry (src/commands/veristat.ts), and with
// --jobs 1 (or one file) loads the same bundle itself, through the same code cache
const defineWorker = { BPF_VERISTAT_WORKER: JSON.stringify(`./${workerFile}`) };
const workInPlace = {
  name: 'veristat-work',
  setup(b) {
    b.onResolve({ filter: /veristat-work\.js$/ }, (a) => (a.importer.endsWith('veristat-worker.js') ? undefined : { path: 'veristat-work', namespace: 'bpf-veristat-work' }));
    b.onLoad({ filter: /.*/, namespace: 'bpf-veristat-work' }, () => ({
      resolveDir: dist,
      loader: 'js',
      contents: [
        `import { availableParallelism } from 'node:os';`,
        `import { fileURLToPath } from 'node:url';`,
        `import { loadCached } from ${JSON.stringify(join(dist, 'code-cache.js'))};`,
        `import { wantsTiering } from ${JSON.stringify(join(dist, 'v8-tiering.js'))};`,
        `const tag = wantsTiering(['veristat'], process.env, availableParallelism()) ? '-tiered' : '';`,
        `const m = loadCached(fileURLToPath(new URL(${JSON.stringify(`./${workFile}`)}, import.meta.url)), ${JSON.stringify(workHash)}, tag, true);`,
        `export const { statFile, serve, errorRow } = m.exports;`,
      ].join('\n'),
    }));
  },
};

for (const c of commands) {
  const module = join(dist, 'commands', `${c.name}.js`);
  // a command that lists the others (completion) imports the list, which imports it back: take
  // the list first, as cli.ts does, so the cycle resolves in the same order
  const first = readFileSync(module, 'utf8').includes("from './index.js'") ? `import ${JSON.stringify(join(dist, 'commands/index.js'))};\n` : '';
  const entry = `${first}import { runCommand } from ${JSON.stringify(join(dist, 'dispatch.js'))};\nimport { ${c.name} as command } from ${JSON.stringify(module)};\nexport const run = (argv) => runCommand(command, argv);\n`;
  const stdin = { contents: entry, resolveDir: pkg, sourcefile: `${c.name}-entry.js`, loader: 'js' };
  // CommonJS (code cache) unless the command reaches an external package, which is ESM only
  // (or uses import.meta, which CommonJS lacks)
  let r = await build({ ...common, stdin, format: 'cjs', external: EXTERNAL, define: defineWorker, plugins: [workInPlace], metafile: true, logLevel: 'silent' });
  const esm =
    r.warnings.some((w) => w.id === 'empty-import-meta') ||
    Object.values(r.metafile.inputs).some((i) => i.imports.some((x) => x.external && EXTERNAL.some((e) => x.path === e || x.path.startsWith(`${e}/`))));
  const format = esm ? 'esm' : 'cjs';
  if (esm) r = await build({ ...common, stdin, format: 'esm', external: EXTERNAL, define: defineWorker, plugins: [workInPlace], metafile: true, banner: { js: "import { createRequire as __bpfRequire } from 'node:module'; const require = __bpfRequire(import.meta.url);" } });
  const text = r.outputFiles[0].text;
  const file = `${c.name}.${format === 'cjs' ? 'cjs' : 'mjs'}`;
  put(file, text);
  groups[c.name] = { file, hash: hash(text), format };
  sizes.push(`${file} ${(text.length / 1024).toFixed(0)} KiB`);
  if (process.argv.includes('--metafile')) console.log(file, Object.keys(r.metafile.inputs).join(' '));
}

const manifest = { version: VERSION, help: mainHelp(), commands: Object.fromEntries(commands.map((c) => [c.name, { help: helpText(c) }])) };
const bin = await build({
  ...common,
  entryPoints: [join(dist, 'bin-bundled.js')],
  format: 'cjs',
  // its import() of @bpf/kernel, handed to the commands (src/kernel-loader.ts), stays an import()
  external: EXTERNAL,
  define: { BPF_MANIFEST: JSON.stringify(manifest), BPF_GROUPS: JSON.stringify(groups) },
  banner: { js: '#!/usr/bin/env node' },
});
put('bin.cjs', bin.outputFiles[0].text, 0o755);
// the package is "type": "module"; this folder's .js would be ESM, so every file names its kind
put('package.json', '{ "type": "commonjs" }\n');
// bundles of an earlier build that this one did not write (a command that changed format)
const written = new Set(['bin.cjs', 'package.json', workFile, workerFile, ...Object.values(groups).map((g) => g.file)]);
for (const f of readdirSync(out)) if (!f.startsWith('.') && !written.has(f)) rmSync(join(out, f), { force: true });
// code caches of bundles that are no more
const cacheDir = join(out, '.cache');
const live = new Set([...Object.values(groups).map((g) => `${g.file}.${g.hash}.`), `${workFile}.${workHash}.`]);
if (existsSync(cacheDir)) for (const f of readdirSync(cacheDir)) if (![...live].some((p) => f.startsWith(p))) rmSync(join(cacheDir, f), { force: true });
console.log(`bundle: dist/bpf/bin.cjs ${(bin.outputFiles[0].text.length / 1024).toFixed(0)} KiB; ${sizes.join(', ')}`);
