#!/usr/bin/env node
// Bundles each browser-clean layer for the browser with esbuild (minified), fails if any
// Node built-in is reached, and reports minified and gzipped sizes into
// bench/results/bundle.json (the bench table) — the sizes the package READMEs quote.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const layers = ['isa', 'btf', 'elf', 'liveness', 'verifier', 'vm', 'jit-x86', 'jit-arm64'];
const rows = [];
let failed = 0;
for (const l of layers) {
  try {
    const r = await build({
      entryPoints: [join(root, 'packages', l, 'dist/index.js')],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    const code = r.outputFiles[0].contents;
    rows.push({ benchmark: `@bpf/${l} browser bundle (min / min+gzip)`, ours: gzipSync(code).length / 1024, unit: 'KiB gzip', note: `${(code.length / 1024).toFixed(1)} KiB minified; no Node built-ins` });
  } catch (e) {
    failed++;
    rows.push({ benchmark: `@bpf/${l} browser bundle`, note: `FAILED: ${e.message.split('\n')[0]}` });
  }
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/bundle.json'), JSON.stringify({ rows }, null, 2));
for (const r of rows) console.log(`${r.benchmark.padEnd(48)} ${r.ours === undefined ? '' : r.ours.toFixed(1) + ' KiB gzip'}  ${r.note}`);
console.log(`bundle-check: ${rows.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
