/* check.h — the test harness (STYLE 14): every check prints expected vs
** actual with file:line and counts failures; wf_check_report() prints
** "N passed, N failed" and gives the exit code. Header-only on purpose: each
** test program includes it once. */
#ifndef WF_CHECK_H
#define WF_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int wf_check_pass_, wf_check_fail_;

#define WF_CHECK(cond)                                                              \
    do {                                                                            \
        if (cond) wf_check_pass_++;                                                 \
        else { wf_check_fail_++;                                                    \
            fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); }    \
    } while (0)

/* 1 when x has a floating type. Not evaluated: _Generic looks at the type only. */
#define WF_CHECK_IS_FLOAT_(x) _Generic((x), float: 1, double: 1, long double: 1, default: 0)

/* Integer equality. A float argument is refused at compile time: converting
** it to an integer would make 1.25 equal 1 (use WF_CHECK_FEQ or _NEAR). */
#define WF_CHECK_EQ(a, b)                                                           \
    do {                                                                            \
        _Static_assert(!WF_CHECK_IS_FLOAT_(a) && !WF_CHECK_IS_FLOAT_(b),            \
                       "WF_CHECK_EQ on a float: use WF_CHECK_FEQ or WF_CHECK_NEAR"); \
        long long a_ = (long long)(a), b_ = (long long)(b);                         \
        if (a_ == b_) wf_check_pass_++;                                             \
        else { wf_check_fail_++;                                                    \
            fprintf(stderr, "%s:%d: FAILED: %s == %s: got %lld, expected %lld\n",   \
                    __FILE__, __LINE__, #a, #b, a_, b_); }                          \
    } while (0)

/* Exact floating-point equality, compared as doubles; NaN never equals. */
#define WF_CHECK_FEQ(a, b)                                                          \
    do {                                                                            \
        double a_ = (double)(a), b_ = (double)(b);                                  \
        if (a_ == b_) wf_check_pass_++;                                             \
        else { wf_check_fail_++;                                                    \
            fprintf(stderr, "%s:%d: FAILED: %s == %s: got %.17g, expected %.17g\n", \
                    __FILE__, __LINE__, #a, #b, a_, b_); }                          \
    } while (0)

#define WF_CHECK_NEAR(a, b, tol)                                                    \
    do {                                                                            \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);              \
        if (fabs(a_ - b_) <= t_) wf_check_pass_++;                                  \
        else { wf_check_fail_++;                                                    \
            fprintf(stderr, "%s:%d: FAILED: %s ~ %s: got %.9g, expected %.9g, "     \
                    "diff %.3g > tol %.3g\n", __FILE__, __LINE__, #a, #b, a_, b_,   \
                    fabs(a_ - b_), t_); }                                           \
    } while (0)

#define WF_CHECK_STR(a, b)                                                          \
    do {                                                                            \
        const char *a_ = (a), *b_ = (b);                                            \
        if (a_ && b_ && strcmp(a_, b_) == 0) wf_check_pass_++;                      \
        else { wf_check_fail_++;                                                    \
            fprintf(stderr, "%s:%d: FAILED: %s == %s:\n  got      \"%s\"\n"         \
                    "  expected \"%s\"\n", __FILE__, __LINE__, #a, #b,              \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)"); }                      \
    } while (0)

/* Substring check, for error messages: the message must name the thing. */
#define WF_CHECK_HAS(hay, needle)                                                   \
    do {                                                                            \
        const char *h_ = (hay), *n_ = (needle);                                     \
        if (h_ && n_ && strstr(h_, n_)) wf_check_pass_++;                           \
        else { wf_check_fail_++;                                                    \
            fprintf(stderr, "%s:%d: FAILED: \"%s\" should contain \"%s\"\n",        \
                    __FILE__, __LINE__, h_ ? h_ : "(null)", n_ ? n_ : "(null)"); }  \
    } while (0)

/* Running maximum that keeps NaN: once either side is NaN the result is NaN,
** so a "max diff <= tol" check fails (fmax and "if (d > m) m = d" drop it). */
static inline double wf_check_max(double m, double x) {
    if (isnan(m) || isnan(x)) return NAN;
    return x > m ? x : m;
}

/* Largest |a[i] - b[i]|; NaN when any element of either side is NaN. */
static inline double wf_check_maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = wf_check_max(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static inline int wf_check_report(void) {
    printf("%d passed, %d failed\n", wf_check_pass_, wf_check_fail_);
    return wf_check_fail_ ? 1 : (wf_check_pass_ ? 0 : 1); /* no checks = failure */
}

#endif
