#!/usr/bin/env node
// Generates the pages that must not drift from the code:
//  - api/<package>/: TypeDoc (markdown) of each package's public entry point;
//  - cli.md: the CLI reference, from `bpf <command> --help` of the built CLI.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const docs = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(docs, '../..');
const pkgs = readdirSync(join(root, 'packages')).filter((p) => {
  const pj = join(root, 'packages', p, 'package.json');
  return existsSync(join(root, 'packages', p, 'src/index.ts')) && existsSync(pj) && !JSON.parse(readFileSync(pj, 'utf8')).private;
});

rmSync(join(docs, 'api'), { recursive: true, force: true });
mkdirSync(join(docs, 'api'), { recursive: true });
const bin = (name) => join(docs, 'node_modules/.bin', name);
for (const p of pkgs) {
  execFileSync(
    bin('typedoc'),
    [
      '--plugin', 'typedoc-plugin-markdown',
      '--entryPoints', join(root, 'packages', p, 'src/index.ts'),
      '--tsconfig', join(root, 'packages', p, 'tsconfig.json'),
      '--out', join(docs, 'api', p),
      '--readme', 'none',
      '--hidePageHeader', '--hideBreadcrumbs',
      '--excludePrivate', '--excludeInternal',
      '--skipErrorChecking',
      '--logLevel', 'Error',
      '--name', `@bpf/${p}`,
    ],
    { stdio: 'inherit', cwd: root },
  );
}
writeFileSync(
  join(docs, 'api/index.md'),
  `# API reference\n\nGenerated from the sources with TypeDoc on every build.\n\n${pkgs.map((p) => `- [@bpf/${p}](./${p}/README.md)`).join('\n')}\n`,
);

const cli = join(root, 'apps/cli/dist/bin.js');
let cliPage = '# CLI reference\n\nGenerated from `bpf <command> --help` on every build.\n\n';
if (existsSync(cli)) {
  const run = (args) => execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const main = run(['--help']);
  cliPage += '```text\n' + main + '```\n';
  const names = [...main.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]);
  for (const n of names) cliPage += `\n## bpf ${n}\n\n\`\`\`text\n${run([n, '--help'])}\`\`\`\n`;
} else {
  cliPage += 'Build the CLI first (`pnpm exec tsc -b`).\n';
}
writeFileSync(join(docs, 'cli.md'), cliPage);
console.log(`api: ${pkgs.length} packages documented; cli.md written`);
