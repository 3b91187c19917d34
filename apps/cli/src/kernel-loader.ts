/**
 * @bpf/kernel for commands that only sometimes need it. It is an ES module kept outside the
 * bundles, and a command bundled as CommonJS runs through V8's code cache (`vm.Script`), where
 * `import()` cannot be used: so the launcher (dist/bpf/bin.cjs, a plain CommonJS file) and the
 * veristat worker hand over their own `import()` of it with `provideKernel`. Unbundled (the tsc
 * output), a command imports it itself.
 */
type Kernel = typeof import('@bpf/kernel');
const KEY = Symbol.for('@bpf/cli: load @bpf/kernel');
const SPEC = '@bpf/kernel';

/** Make `loadKernel` use `load` in this thread (the launcher's or a worker's own import()). */
export function provideKernel(load: () => Promise<Kernel>): void {
  (globalThis as Record<symbol, unknown>)[KEY] = load;
}

let loaded: Promise<Kernel | undefined> | undefined;
/** @bpf/kernel, imported on first use; undefined where it cannot be loaded. */
export function loadKernel(): Promise<Kernel | undefined> {
  const given = (globalThis as Record<symbol, unknown>)[KEY] as (() => Promise<Kernel>) | undefined;
  // a specifier the bundler leaves alone: the import happens here only when not bundled
  return (loaded ??= (given ?? (() => import(SPEC) as Promise<Kernel>))().catch(() => undefined));
}
