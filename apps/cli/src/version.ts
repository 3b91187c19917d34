// Written by scripts/sync-version.mjs from package.json; do not edit.
/** The version of @bpf/cli, as published. */
export const VERSION = '0.1.0';
