/* test_sample.c — model/sample.h: greedy picks the argmax (lowest id on
** ties); top-k / top-p never pick outside their set; sampled frequencies
** follow softmax(logits / T); same seed, same stream; bad options are
** rejected with the option named; allocation failures leak nothing. */
#include "model/sample.h"

#include "tests/check.h"

#include <math.h>

static void test_greedy(void) {
    float lg[5] = {0.1f, 3.0f, -1.0f, 3.0f, 2.0f};
    wf_sampler *s;
    wf_err e;
    WF_CHECK_EQ(wf_sampler_new(5, &(wf_sample_opts){0.0f, 0, 1.0f}, 1, NULL, &s, &e), WF_OK);
    WF_CHECK_EQ(wf_sampler_next(s, lg), 1);
    wf_sampler_free(s);
    /* top-k 1 at any temperature is greedy too */
    WF_CHECK_EQ(wf_sampler_new(5, &(wf_sample_opts){5.0f, 1, 1.0f}, 1, NULL, &s, &e), WF_OK);
    for (int i = 0; i < 20; i++) WF_CHECK_EQ(wf_sampler_next(s, lg), 1);
    wf_sampler_free(s);
}

static void test_filters(void) {
    float lg[6] = {1.0f, 4.0f, 0.0f, 3.0f, 2.0f, -5.0f};
    wf_sampler *s;
    wf_err e;
    int seen[6] = {0};
    WF_CHECK_EQ(wf_sampler_new(6, &(wf_sample_opts){1.0f, 3, 1.0f}, 7, NULL, &s, &e), WF_OK);
    for (int i = 0; i < 3000; i++) seen[wf_sampler_next(s, lg)]++;
    wf_sampler_free(s);
    WF_CHECK(seen[1] > 0 && seen[3] > 0 && seen[4] > 0);
    WF_CHECK_EQ(seen[0] + seen[2] + seen[5], 0);
    /* softmax over {4,3,2}: p(1) = 0.665, p(3) = 0.245, p(4) = 0.090 */
    WF_CHECK_NEAR(seen[1] / 3000.0, 0.6652, 0.03);
    WF_CHECK_NEAR(seen[4] / 3000.0, 0.0900, 0.02);

    /* top-p 0.8 over softmax(lg): sorted p = .636 (id 1), .234 (id 3), ...:
    ** the nucleus is {1, 3} (cumulative .870 >= .8). */
    int seen2[6] = {0};
    WF_CHECK_EQ(wf_sampler_new(6, &(wf_sample_opts){1.0f, 0, 0.8f}, 9, NULL, &s, &e), WF_OK);
    for (int i = 0; i < 2000; i++) seen2[wf_sampler_next(s, lg)]++;
    wf_sampler_free(s);
    WF_CHECK(seen2[1] > 0 && seen2[3] > 0);
    WF_CHECK_EQ(seen2[0] + seen2[2] + seen2[4] + seen2[5], 0);
    WF_CHECK_NEAR(seen2[1] / 2000.0, 0.636 / 0.870, 0.03);

    /* temperature 0.5 sharpens: p(1) over all six = softmax(2*lg) */
    double z = 0;
    for (int i = 0; i < 6; i++) z += exp(2.0 * lg[i]);
    int seen3[6] = {0};
    WF_CHECK_EQ(wf_sampler_new(6, &(wf_sample_opts){0.5f, 0, 1.0f}, 11, NULL, &s, &e), WF_OK);
    for (int i = 0; i < 4000; i++) seen3[wf_sampler_next(s, lg)]++;
    wf_sampler_free(s);
    WF_CHECK_NEAR(seen3[1] / 4000.0, exp(8.0) / z, 0.03);
}

static void test_seeded(void) {
    float lg[50];
    for (int i = 0; i < 50; i++) lg[i] = (float)sin(i * 1.7);
    wf_sampler *a, *b, *c;
    wf_err e;
    wf_sample_opts o = {0.9f, 20, 0.95f};
    WF_CHECK_EQ(wf_sampler_new(50, &o, 42, NULL, &a, &e), WF_OK);
    WF_CHECK_EQ(wf_sampler_new(50, &o, 42, NULL, &b, &e), WF_OK);
    WF_CHECK_EQ(wf_sampler_new(50, &o, 43, NULL, &c, &e), WF_OK);
    int same = 1, differ = 0;
    for (int i = 0; i < 100; i++) {
        int32_t x = wf_sampler_next(a, lg), y = wf_sampler_next(b, lg), z = wf_sampler_next(c, lg);
        same &= x == y;
        differ |= x != z;
    }
    WF_CHECK(same);
    WF_CHECK(differ);
    wf_sampler_free(a);
    wf_sampler_free(b);
    wf_sampler_free(c);
}

static void test_bad_options(void) {
    wf_sampler *s = (wf_sampler *)1;
    wf_err e;
    WF_CHECK_EQ(wf_sampler_new(10, &(wf_sample_opts){-1.0f, 0, 1.0f}, 1, NULL, &s, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "temperature -1");
    WF_CHECK(s == NULL);
    WF_CHECK_EQ(wf_sampler_new(10, &(wf_sample_opts){1.0f, -2, 1.0f}, 1, NULL, &s, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "top-k -2");
    WF_CHECK_EQ(wf_sampler_new(10, &(wf_sample_opts){1.0f, 0, 0.0f}, 1, NULL, &s, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "top-p 0, expected in (0, 1]");
    WF_CHECK_EQ(wf_sampler_new(10, &(wf_sample_opts){1.0f, 0, 1.5f}, 1, NULL, &s, &e), WF_EUSAGE);
    WF_CHECK_HAS(e.msg, "top-p 1.5");
    wf_heap *h = wf_heap_new(0);
    for (int k = 0;; k++) {
        wf_heap_fail_at(h, k);
        wf_status st = wf_sampler_new(10, &(wf_sample_opts){1.0f, 0, 1.0f}, 1, h, &s, &e);
        if (st == WF_OK) {
            wf_sampler_free(s);
            WF_CHECK_EQ(k, 2);
            break;
        }
        WF_CHECK_EQ(st, WF_ENOMEM);
        WF_CHECK_EQ(wf_heap_live(h), 0);
    }
    WF_CHECK_EQ(wf_heap_live(h), 0);
    wf_heap_free(h);
}

int main(void) {
    test_greedy();
    test_filters();
    test_seeded();
    test_bad_options();
    return wf_check_report();
}
