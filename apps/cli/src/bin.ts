#!/usr/bin/env node
console.log('bpf: not yet implemented');
