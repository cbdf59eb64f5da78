// Philox4x32-10 against the published Random123 known-answer vectors.
#include "am/philox.h"
#include "test.h"

START_TEST(test_philox_kat) {
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        am_u32x4 c = {{kat[i][0], kat[i][1], kat[i][2], kat[i][3]}};
        am_u32x4 r = am_philox4x32_10(c, kat[i][4], kat[i][5]);
        for (int j = 0; j < 4; j++)
            ck_assert_msg(r.v[j] == kat[i][6 + j], "vector %d word %d: got %08x expected %08x", i, j, r.v[j], kat[i][6 + j]);
    }
}
END_TEST

START_TEST(test_uniform_range_and_mean) {
    double sum = 0.0;
    float lo = 1.0f, hi = 0.0f;
    int n = 100000;
    for (int i = 0; i < n; i++) {
        float u = am_rand_u01(42, 7, 3, (uint32_t)i);
        sum += u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    ck_assert(lo >= 0.0f && hi < 1.0f);
    ck_assert_msg(sum / n > 0.497 && sum / n < 0.503, "mean %f", sum / n);
    ck_assert(am_rand_u32(42, 7, 3, 5) != am_rand_u32(42, 7, 4, 5));
    ck_assert(am_rand_u32(42, 7, 3, 5) != am_rand_u32(43, 7, 3, 5));
    ck_assert(am_rand_u32(42, 7, 3, 5) != am_rand_u32(42, 8, 3, 5));
}
END_TEST

Suite *suite_rng(void) {
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("philox");
    tcase_add_test(tc, test_philox_kat);
    tcase_add_test(tc, test_uniform_range_and_mean);
    suite_add_tcase(s, tc);
    return s;
}
