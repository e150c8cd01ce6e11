/* test-sgd.c - SGD with momentum and weight decay against values worked out
 * by hand from Caffe's update rule (train/sgd.h), and the "step" learning
 * rate policy.
 *
 * Network: one fc layer, 2 inputs -> 1 output, weight (1,2) and bias (1).
 * Config: lr 0.1, momentum 0.9, weight decay 0.01, weight multipliers 1/1,
 * bias multipliers 2/0.  Gradients are set by hand: dw = (1, -2), db = 0.5.
 *
 * Step 1 (v = 0):
 *   w0 = 0.5:  v = -0.1 * (1 + 0.01*0.5)      = -0.1005     -> w = 0.3995
 *   w1 = -1 :  v = -0.1 * (-2 + 0.01*(-1))    =  0.201      -> w = -0.799
 *   b  = 0.25: v = -0.2 * 0.5 (no decay)      = -0.1        -> b = 0.15
 * Step 2 (same gradients):
 *   w0: v = 0.9*(-0.1005) - 0.1*(1 + 0.003995)   = -0.1908495 -> w = 0.2086505
 *   w1: v = 0.9*0.201 - 0.1*(-2 - 0.00799)       =  0.381699  -> w = -0.417301
 *   b : v = 0.9*(-0.1) - 0.2*0.5                 = -0.19      -> b = -0.04
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/graph.h"
#include "train/sgd.h"

static int failures;

static void near(const char *what, double got, double want)
{
    if (fabs(got - want) > 1e-6 + 1e-5 * fabs(want)) {
        fprintf(stderr, "FAIL %s: got %.9g, want %.9g\n", what, got, want);
        failures++;
    }
}

int main(void)
{
    ts_graph *g = ts_graph_new(2, 1, 1);
    ts_node *fc = ts_graph_add(g, TS_OP_FC, "fc", 0, NULL);
    fc->out_c = 1;
    if (ts_graph_finalize(g) != TS_OK) {
        fprintf(stderr, "finalize: %s\n", ts_last_error());
        return 1;
    }
    fc = ts_graph_find(g, "fc");
    fc->weight.data[0] = 0.5f;
    fc->weight.data[1] = -1.0f;
    fc->bias.data[0] = 0.25f;

    ts_sgd_config cfg = ts_sgd_config_default();
    near("default bias lr mult", cfg.bias_lr_mult, 2);
    near("default bias decay mult", cfg.bias_decay_mult, 0);
    cfg.base_lr = 0.1f;
    cfg.momentum = 0.9f;
    cfg.weight_decay = 0.01f;
    ts_sgd s;
    if (ts_sgd_init(&s, g, &cfg) != TS_OK) {
        fprintf(stderr, "sgd init: %s\n", ts_last_error());
        return 1;
    }
    for (int step = 0; step < 2; step++) {
        fc->dweight.data[0] = 1.0f;
        fc->dweight.data[1] = -2.0f;
        fc->dbias.data[0] = 0.5f;
        if (ts_sgd_step(&s, g) != TS_OK) return 1;
        if (step == 0) {
            near("step1 w0", fc->weight.data[0], 0.3995);
            near("step1 w1", fc->weight.data[1], -0.799);
            near("step1 b", fc->bias.data[0], 0.15);
        }
    }
    near("step2 w0", fc->weight.data[0], 0.2086505);
    near("step2 w1", fc->weight.data[1], -0.417301);
    near("step2 b", fc->bias.data[0], -0.04);
    if (s.iter != 2) {
        fprintf(stderr, "FAIL iter %llu\n", (unsigned long long)s.iter);
        failures++;
    }
    /* Gradients are the caller's: untouched by the step. */
    near("grad kept", fc->dweight.data[1], -2.0);

    /* Step policy: base 0.01, gamma 0.1, stepsize 100. */
    ts_sgd_config st = cfg;
    st.base_lr = 0.01f;
    st.gamma = 0.1f;
    st.stepsize = 100;
    near("lr(0)", ts_sgd_lr(&st, 0), 0.01);
    near("lr(99)", ts_sgd_lr(&st, 99), 0.01);
    near("lr(100)", ts_sgd_lr(&st, 100), 0.001);
    near("lr(250)", ts_sgd_lr(&st, 250), 0.0001);
    st.stepsize = 0;
    near("fixed lr", ts_sgd_lr(&st, 12345), 0.01);

    /* Bad configurations are refused. */
    ts_sgd bad;
    ts_sgd_config b1 = cfg;
    b1.momentum = 1.0f;
    if (ts_sgd_init(&bad, g, &b1) != TS_ERR_ARG) {
        fprintf(stderr, "FAIL momentum 1 accepted\n");
        failures++;
    }
    b1 = cfg;
    b1.base_lr = 0;
    if (ts_sgd_init(&bad, g, &b1) != TS_ERR_ARG) {
        fprintf(stderr, "FAIL lr 0 accepted\n");
        failures++;
    }
    ts_sgd_clear(&s);
    ts_graph_free(g);
    if (failures) return 1;
    printf("sgd: ok\n");
    return 0;
}
