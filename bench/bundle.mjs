#!/usr/bin/env node
// Bundles each browser-clean layer for the browser with esbuild (minified), fails if any
// Node built-in is reached, and reports minified and gzipped sizes into
// bench/results/bundle.json (the bench table) — the sizes the package READMEs quote.
// `--write-readmes` rewrites the "Bundle size" line of each README with the measured sizes;
// without it, a README whose quoted gzip size is off by more than 10% fails the check.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const layers = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).browserCleanLayers;
const rows = [];
const sizes = [];
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
    const min = code.length / 1024;
    const gz = gzipSync(code).length / 1024;
    sizes.push({ layer: l, min, gz });
    const readme = join(root, 'packages', l, 'README.md');
    const text = readFileSync(readme, 'utf8');
    const line = /^Bundle size \(esbuild, browser, minified, dependencies included\): ([\d.]+) KiB, ([\d.]+) KiB gzipped/m;
    const quoted = line.exec(text);
    if (process.argv.includes('--write-readmes')) {
      const fresh = `Bundle size (esbuild, browser, minified, dependencies included): ${min.toFixed(1)} KiB, ${gz.toFixed(1)} KiB gzipped`;
      writeFileSync(readme, quoted ? text.replace(line, fresh) : `${text.trimEnd()}\n\n${fresh} — measured by \`bench/bundle.mjs\`, which also checks that no Node built-in is reached.\n`);
    } else if (!quoted || Math.abs(Number(quoted[2]) - gz) / gz > 0.1) {
      failed++;
      console.error(`@bpf/${l}: README quotes ${quoted ? `${quoted[2]} KiB gzipped` : 'no bundle size'}, measured ${gz.toFixed(1)} KiB: run node bench/bundle.mjs --write-readmes`);
    }
    rows.push({ benchmark: `@bpf/${l} browser bundle (min / min+gzip)`, ours: gzipSync(code).length / 1024, unit: 'KiB gzip', note: `${(code.length / 1024).toFixed(1)} KiB minified; no Node built-ins` });
  } catch (e) {
    failed++;
    rows.push({ benchmark: `@bpf/${l} browser bundle`, note: `FAILED: ${e.message.split('\n')[0]}` });
  }
}
// the root README's table of the same numbers
{
  const readme = join(root, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const table = ['| package | minified | min + gzip |', '|---|---|---|', ...sizes.map((z) => `| \`@bpf/${z.layer}\` | ${z.min.toFixed(1)} KiB | ${z.gz.toFixed(1)} KiB |`)].join('\n');
  const block = /<!-- bundle-sizes -->\n[\s\S]*?<!-- \/bundle-sizes -->/;
  if (process.argv.includes('--write-readmes')) writeFileSync(readme, text.replace(block, `<!-- bundle-sizes -->\n${table}\n<!-- /bundle-sizes -->`));
  else {
    const quoted = new Map([...(block.exec(text)?.[0] ?? '').matchAll(/`@bpf\/([\w-]+)` \| [\d.]+ KiB \| ([\d.]+) KiB/g)].map((m) => [m[1], Number(m[2])]));
    for (const z of sizes) {
      const q = quoted.get(z.layer);
      if (q === undefined || Math.abs(q - z.gz) / z.gz > 0.1) {
        failed++;
        console.error(`README.md: bundle size of @bpf/${z.layer} is ${q === undefined ? 'missing' : `${q} KiB`}, measured ${z.gz.toFixed(1)} KiB: run node bench/bundle.mjs --write-readmes`);
      }
    }
  }
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/bundle.json'), JSON.stringify({ rows }, null, 2));
for (const r of rows) console.log(`${r.benchmark.padEnd(48)} ${r.ours === undefined ? '' : r.ours.toFixed(1) + ' KiB gzip'}  ${r.note}`);
console.log(`bundle-check: ${rows.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
