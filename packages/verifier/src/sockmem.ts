/**
 * Reads through the socket pointers helpers return (kernel/bpf/verifier.c check_sock_access;
 * net/core/filter.c bpf_sock_common_is_valid_access, bpf_sock_is_valid_access,
 * bpf_tcp_sock_is_valid_access): `struct bpf_sock` for sock and sock_common (whose first
 * fields a request or timewait socket lacks), `struct bpf_tcp_sock` for tcp_sock. Only reads.
 */
import { sockValid } from './ctx.js';
import { CTX_LAYOUT } from './ctxlayout.js';
import type { Env } from './env.js';
import { regTypeStr } from './print.js';
import { UNKNOWN, type Reg } from './state.js';

export const SOCK_TYPES: ReadonlySet<string> = new Set(['sock', 'sock_common', 'tcp_sock', 'xdp_sock']);

const SK = CTX_LAYOUT.bpf_sock.fields;
const TCP = CTX_LAYOUT.bpf_tcp_sock;

/** bpf_tcp_sock_is_valid_access: every field whole, the two u64 counters as u64. */
function tcpSockValid(off: number, size: number): boolean {
  if (off < 0 || off >= TCP.size || off % size !== 0) return false;
  const wide = off === TCP.fields.bytes_received[0] || off === TCP.fields.bytes_acked[0];
  return size === (wide ? 8 : 4);
}

/** bpf_sock_common_is_valid_access: the fields from `type` to `priority` are a full socket's. */
function sockCommonValid(off: number, size: number): boolean {
  if (off >= SK.type[0] && off < SK.priority[0] + SK.priority[1]) return false;
  return sockValid(off, size);
}

/** bpf_xdp_sock_is_valid_access: `queue_id`, a whole u32. */
function xdpSockValid(off: number, size: number): boolean {
  return off >= 0 && off < CTX_LAYOUT.bpf_xdp_sock.size && off % size === 0 && size === 4;
}

const VALID: Readonly<Record<string, (off: number, size: number) => boolean>> = { sock: sockValid, sock_common: sockCommonValid, tcp_sock: tcpSockValid, xdp_sock: xdpSockValid };

/** check_mem_access for a socket pointer: `R1 cannot write into sock`, `R1 invalid sock access off=4 size=8`. */
export function sockAccess(env: Env, pc: number, r: Reg, regno: number, off: number, size: number, write: boolean): Reg | undefined {
  if (write) env.reject(pc, `R${regno} cannot write into ${regTypeStr(r)}`);
  if (r.smin < 0n) env.reject(pc, `R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
  if (!VALID[r.type]!(off, size)) env.reject(pc, `R${regno} invalid ${regTypeStr(r)} access off=${off} size=${size}`);
  return UNKNOWN;
}
