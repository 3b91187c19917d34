# A kfunc call with 12 arguments: 1..5 in r1..r5, 6..12 through r11. bpf_test_weighted12 is one
# of the standard test kfuncs every @bpf engine provides (fixtures/conformance/README.md):
# it returns 1*a1 + 2*a2 + ... + 12*a12, so a misplaced argument changes the result: 650.
.kfunc bpf_test_weighted12(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h, u64 i, u64 j, u64 k, u64 l) u64
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
    call bpf_test_weighted12
    exit
