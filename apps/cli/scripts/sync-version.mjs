#!/usr/bin/env node
// Writes src/version.ts from this package's package.json, so `bpf --version` says the version
// that was published. `pnpm release:version` runs it after `changeset version` bumps the
// manifest; src/version.test.ts fails if the two ever differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
writeFileSync(
  join(pkg, 'src/version.ts'),
  `// Written by scripts/sync-version.mjs from package.json; do not edit.\n/** The version of @bpf/cli, as published. */\nexport const VERSION = '${version}';\n`,
);
console.log(`apps/cli/src/version.ts: ${version}`);
