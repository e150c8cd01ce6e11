/* fuzz-lrp-rules.c - the LRP rule-string and target parsers (explain/lrp.h)
 * on arbitrary bytes: first line a rule string, second line a target.
 * Parsed against a small fixed graph; every parse must either fail with a
 * message or give rules whose description re-parses to the same rules. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "explain/lrp.h"

static ts_graph *net(void)
{
    static ts_graph *g;
    if (g) return g;
    g = ts_graph_new(3, 16, 16);
    ts_node *c = ts_graph_add(g, TS_OP_CONV2D, "conv1", 0, NULL);
    c->out_c = 4, c->kh = c->kw = 3;
    ts_graph_add(g, TS_OP_RELU, "relu1", 0, NULL);
    c = ts_graph_add(g, TS_OP_CONV2D, "conv2", 0, NULL);
    c->out_c = 4, c->kh = c->kw = 3;
    ts_graph_add(g, TS_OP_FC, "fc1", 0, NULL)->out_c = 3;
    TS_ASSERT(ts_graph_finalize(g) == TS_OK);
    return g;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *target = strchr(s, '\n');
    if (target) *target++ = '\0';
    ts_lrp_rules r, again;
    if (ts_lrp_rules_parse(net(), s, &r) == TS_OK) {
        char buf[TS_LRP_SPEC_MAX];
        ts_lrp_rules_describe(net(), &r, buf, sizeof buf);
        TS_ASSERT(ts_lrp_rules_parse(net(), buf, &again) == TS_OK);
        for (int i = 0; i < r.n_nodes; i++) {
            TS_ASSERT(r.rule[i].kind == again.rule[i].kind);
            TS_ASSERT(r.rule[i].with_bias == again.rule[i].with_bias);
        }
        ts_lrp_rules_clear(&again);
        ts_lrp_rules_clear(&r);
    } else {
        TS_ASSERT(ts_last_error()[0]);
    }
    static const char *const names[3] = { "female", "male", "x-y" };
    ts_lrp_target t;
    if (target && ts_lrp_target_parse(target, names, 3, &t) == TS_OK)
        TS_ASSERT(t.kind == TS_LRP_TARGET_PREDICTED || (t.a >= 0 && t.a < 3 && t.b < 3));
    free(s);
    return 0;
}
