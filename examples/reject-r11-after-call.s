# Rejected: a callee reads its stack argument after making a call
# ("r11 load must be before any r11 store or call insn").
.func f(u64 a, u64 b, u64 c, u64 d, u64 e, u64 g) u64
main:
    r1 = 1
    r2 = 2
    r3 = 3
    r4 = 4
    r5 = 5
    *(u64 *)(r11 - 8) = 6
    call f
    exit

f:
    call 5
    r0 = *(u64 *)(r11 + 8)
    exit
