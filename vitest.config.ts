// One Vitest project per workspace package. Workspace imports (`@bpf/isa`, ...) resolve to
// each package's `src/index.ts`, so tests never need a prior build.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const root = import.meta.dirname;
const dirs = ['packages', 'apps'].flatMap((group) =>
  existsSync(join(root, group))
    ? readdirSync(join(root, group)).map((d) => join(root, group, d)).filter((d) => existsSync(join(d, 'package.json')))
    : [],
);
const pkgs = dirs.map((dir) => ({ dir, name: (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string }).name }));

export default defineConfig({
  resolve: {
    alias: pkgs
      .filter((p) => existsSync(join(p.dir, 'src/index.ts')))
      .map((p) => ({ find: new RegExp(`^${p.name.replace('/', '\\/')}$`), replacement: resolve(p.dir, 'src/index.ts') })),
  },
  test: {
    projects: pkgs
      .filter((p) => existsSync(join(p.dir, 'src')))
      .map((p) => ({
        extends: true,
        test: {
          name: p.name,
          root: p.dir,
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      })),
  },
});
