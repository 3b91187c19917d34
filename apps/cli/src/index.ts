export { main, mainHelp, VERSION } from './cli.js';
export { EXIT, CliError, type ExitCode } from './errors.js';
export { detectKind, loadProgram, type InputKind } from './input.js';
