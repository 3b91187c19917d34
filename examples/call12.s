# A BPF-to-BPF call with 12 arguments: 1..5 in r1..r5, 6..12 through r11
# (apps/docs/stack-args.md). sum12 returns 1 + 2 + ... + 12 = 78.
.func sum12(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h, u64 i, u64 j, u64 k, u64 l) u64
main:
    r1 = 1
    r2 = 2
    r3 = 3
    r4 = 4
    r5 = 5
    *(u64 *)(r11 - 8) = 6
    *(u64 *)(r11 - 16) = 7
    *(u64 *)(r11 - 24) = 8
    *(u64 *)(r11 - 32) = 9
    *(u64 *)(r11 - 40) = 10
    *(u64 *)(r11 - 48) = 11
    *(u64 *)(r11 - 56) = 12
    call sum12
    exit

sum12:
    r0 = r1
    r0 += r2
    r0 += r3
    r0 += r4
    r0 += r5
    r1 = *(u64 *)(r11 + 8)
    r0 += r1
    r1 = *(u64 *)(r11 + 16)
    r0 += r1
    r1 = *(u64 *)(r11 + 24)
    r0 += r1
    r1 = *(u64 *)(r11 + 32)
    r0 += r1
    r1 = *(u64 *)(r11 + 40)
    r0 += r1
    r1 = *(u64 *)(r11 + 48)
    r0 += r1
    r1 = *(u64 *)(r11 + 56)
    r0 += r1
    exit
