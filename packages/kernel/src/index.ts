export { bpf, bpfRaw, closeFd, errnoName, KernelError, probe, type CmdName, type Probe } from './syscall.js';
export { firstError, loadBtf, loadProgram, parseStats, progInfo, testRun, type KernelLoad, type KernelStats, type LoadOptions, type TestRunOptions, type TestRunResult } from './prog.js';
export { createMap, KernelMap, MAP_TYPE, mapInfo, type MapInfo, type MapSpec, type MapTypeName } from './maps.js';
export { createMaps, createProgramMap, loadWithMaps, possibleCpus, type CreatedMap, type CreatedMaps, type InnerMapSpec, type LoadedWithMaps, type LoadWithMapsOptions, withHostMaps } from './object.js';
export { ldimm64FullRangeOffsets, writeArena } from './arena.js';
export { helperProbe, kfuncProbe, type HelperProbeTarget } from './helpers.js';
