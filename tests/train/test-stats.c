/* test-stats.c - Wilson intervals and McNemar's test (train/eval.h) against
 * published and hand-computed values.
 *
 * Wilson: Newcombe, "Two-sided confidence intervals for the single
 * proportion: comparison of seven methods", Stat. Med. 17 (1998), Table I,
 * method 3 (score interval without continuity correction):
 *   81/263 -> 0.2553, 0.3662     15/148 -> 0.0624, 0.1605
 *    0/20  -> 0.0000, 0.1611      1/29  -> 0.0061, 0.1718
 * McNemar, exact: b=1, c=7: p = 2 * (C(8,0)+C(8,1)) / 2^8 = 18/256.
 *   b=0, c=5: p = 2/32.  b=c=3: p = 1 (capped).  b+c=0: p = 1.
 * McNemar, chi-square with continuity correction: b=121, c=59 (the
 * Wikipedia example): (|121-59|-1)^2/180 = 20.672..., p = erfc(sqrt(x/2))
 * = 5.45e-6; b=10, c=25: 14^2/35 = 5.6, p = 0.017961.
 */
#include <math.h>
#include <stdio.h>

#include "train/eval.h"

static int failures;

static void near(const char *what, double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) {
        fprintf(stderr, "FAIL %s: got %.6g, want %.6g\n", what, got, want);
        failures++;
    }
}

static void wilson(int k, int n, double lo, double hi)
{
    double l, h;
    char what[64];
    ts_wilson_interval(k, n, TS_Z95, &l, &h);
    snprintf(what, sizeof what, "wilson %d/%d lo", k, n);
    near(what, l, lo, 6e-5);
    snprintf(what, sizeof what, "wilson %d/%d hi", k, n);
    near(what, h, hi, 6e-5);
}

int main(void)
{
    wilson(81, 263, 0.2553, 0.3662);
    wilson(15, 148, 0.0624, 0.1605);
    wilson(0, 20, 0.0, 0.1611);
    wilson(1, 29, 0.0061, 0.1718);

    ts_mcnemar m;
    ts_mcnemar_test(1, 7, &m);
    near("exact 1,7", m.p, 18.0 / 256, 1e-12);
    if (!m.exact) failures++, fprintf(stderr, "FAIL 1,7 not exact\n");
    ts_mcnemar_test(7, 1, &m);
    near("exact 7,1 symmetric", m.p, 18.0 / 256, 1e-12);
    ts_mcnemar_test(0, 5, &m);
    near("exact 0,5", m.p, 2.0 / 32, 1e-12);
    ts_mcnemar_test(3, 3, &m);
    near("exact 3,3", m.p, 1.0, 1e-12);
    ts_mcnemar_test(0, 0, &m);
    near("no discordant pairs", m.p, 1.0, 0);
    ts_mcnemar_test(121, 59, &m);
    if (m.exact) failures++, fprintf(stderr, "FAIL 121,59 exact\n");
    near("chi2 121,59", m.statistic, 61.0 * 61.0 / 180.0, 1e-9);
    near("p 121,59", m.p, 5.45e-6, 0.02e-6);
    ts_mcnemar_test(10, 25, &m);
    near("chi2 10,25", m.statistic, 5.6, 1e-9);
    near("p 10,25", m.p, 0.017961, 2e-6);
    if (failures) return 1;
    printf("stats: ok\n");
    return 0;
}
