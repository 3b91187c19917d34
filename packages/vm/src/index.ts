export { run, type RunOptions, type RunResult } from './interp.js';
export { AddressSpace, VmError, type Region, type RegionKind, type VmErrorCode } from './memory.js';
export { KTIME_NS, STANDARD_HELPERS, STANDARD_KFUNCS, standardKfunc, VmMap, type Helper, type HostContext, type Kfunc } from './host.js';
export { isPacketProgType, PACKET_PROG_TYPES, packetContext, type PacketContext, type PacketProgType } from './context.js';
