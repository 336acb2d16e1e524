/* test_check.c — the harness itself (tests/check.h): a float mismatch, a NaN
** and a NaN inside a max-difference each count as a failure. Each expected
** failure is taken back from the counter after it is seen, so the program
** passes only when every one of them failed. */
#include <math.h>

#include "tests/check.h"

/* Runs one check that must fail: the failure counter must move by one. */
#define MUST_FAIL(check)                                                            \
    do {                                                                            \
        int before_ = wf_check_fail_;                                               \
        fprintf(stderr, "(expected failure follows)\n");                            \
        check;                                                                      \
        int failed_ = wf_check_fail_ == before_ + 1;                                \
        wf_check_fail_ = before_;                                                   \
        WF_CHECK(failed_);                                                          \
    } while (0)

int main(void) {
    volatile double nan_ = NAN;
    float a[3] = {1, 2, 3}, b[3] = {1, 2, 3};
    /* exact float equality: 1.25 is not 1 (the old integer WF_CHECK_EQ said it was) */
    WF_CHECK_FEQ(1.25, 1.25);
    MUST_FAIL(WF_CHECK_FEQ(1.25, 1));
    MUST_FAIL(WF_CHECK_FEQ(nan_, nan_));
    MUST_FAIL(WF_CHECK_NEAR(nan_, 0, 1));
    WF_CHECK_EQ(3, 3);
    /* the running max keeps NaN from either side (fmax would drop it) */
    WF_CHECK(isnan(wf_check_max(0.5, nan_)));
    WF_CHECK(isnan(wf_check_max(nan_, 0.5)));
    WF_CHECK(wf_check_max(0.5, 2.0) == 2.0 && wf_check_max(2.0, 0.5) == 2.0);
    WF_CHECK(wf_check_maxdiff(a, b, 3) == 0);
    b[1] = 2.5f;
    WF_CHECK(wf_check_maxdiff(a, b, 3) == 0.5);
    a[0] = (float)nan_;
    WF_CHECK(isnan(wf_check_maxdiff(a, b, 3)));
    MUST_FAIL(WF_CHECK(wf_check_maxdiff(a, b, 3) <= 1e-3));
    return wf_check_report();
}
