#!/usr/bin/env node
import { main } from './cli.js';
import { tuneTiering } from './v8-tiering.js';

// `bpf disasm big.o | head` closes the pipe early: stop quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
tuneTiering(process.argv.slice(2)); // see v8-tiering.ts
process.exitCode = await main(process.argv.slice(2));
