/* lrp.c - Layer-wise Relevance Propagation over a ts_graph (CPU).
 *
 * The rules and their conventions are documented in lrp.h (section 4.1 of
 * the Adience LRP paper; Bach et al. 2015; Montavon et al.).  This file
 * implements all linear-layer rules with one generic step: a rule is a sum
 * of "terms" (W'_k, x'_k), each a modified weight matrix and a modified
 * input, and
 *     Z_j  = sum_k sum_i W'_k[j,i] x'_k[i]  (+ b'_j)
 *     S_j  = R_j / stab(Z_j)
 *     R_i += coef * sum_k x'_k[i] * sum_j W'_k[j,i] S_j
 * which for a convolution is im2col, one SGEMM per term forward
 * (W'_k @ col(x'_k)), one SGEMM per term backward (W'_k^T @ S), an
 * elementwise product with the columns and col2im.  Rules as terms:
 *     epsilon    (W, x), Z read from the forward pass (it includes the bias)
 *     alphabeta  alpha * [(W+, x+), (W-, x-)]  -  beta * [(W-, x+), (W+, x-)]
 *                (terms with x- are dropped when the input is >= 0, the
 *                usual case behind a ReLU)
 *     flat       (1, 1)       wsquare  (W^2, 1)
 *     zbox       (W, x), (W+, -l), (W-, -h)
 * Zero padding falls out of im2col: padded cells are 0 in every column
 * matrix, including the ones of the constant planes 1, -l and -h.
 *
 * Invariants: relevance buffers (one per node, (N,c,h,w)) are zeroed before
 * each backward and only accumulated into, so several consumers of a node
 * sum their shares; modified weights are rebuilt by ts_lrp_refresh().
 */
#include "lrp.h"

#include "../nn/model.h"

#include "../backend/backend.h"

#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- rules ---------------------------------------------------------------- */

static bool is_linear(const ts_node *n)
{
    return n->op == TS_OP_CONV2D || n->op == TS_OP_FC;
}

static const ts_lrp_rule RULE_EPS = { TS_LRP_EPSILON, 0.01f, 0, 0, false };
static const ts_lrp_rule RULE_AB21 = { TS_LRP_ALPHABETA, 0, 2.0f, 1.0f, false };
static const ts_lrp_rule RULE_AB10 = { TS_LRP_ALPHABETA, 0, 1.0f, 0.0f, false };
static const ts_lrp_rule RULE_LRP0 = { TS_LRP_EPSILON, 0.0f, 0, 0, false };
static const ts_lrp_rule RULE_ZBOX = { TS_LRP_ZBOX, 0, 0, 0, false };

static const char *const PRESETS = "adience, adience-a1b0, epsilon, lrp0, composite";

static bool apply_preset(const ts_graph *g, ts_lrp_rules *r, const char *name)
{
    const ts_lrp_rule *conv, *fc;
    bool zfirst = false;
    if (!strcmp(name, "adience")) conv = &RULE_AB21, fc = &RULE_EPS;
    else if (!strcmp(name, "adience-a1b0")) conv = &RULE_AB10, fc = &RULE_EPS;
    else if (!strcmp(name, "epsilon")) conv = &RULE_EPS, fc = &RULE_EPS;
    else if (!strcmp(name, "lrp0")) conv = &RULE_LRP0, fc = &RULE_LRP0;
    else if (!strcmp(name, "composite")) conv = &RULE_AB10, fc = &RULE_EPS, zfirst = true;
    else return false;
    for (int i = 0; i < g->n_nodes; i++) {
        const ts_node *n = &g->nodes[i];
        if (n->op == TS_OP_CONV2D) r->rule[i] = *conv;
        else if (n->op == TS_OP_FC) r->rule[i] = *fc;
        else r->rule[i] = (ts_lrp_rule){ 0 };
        if (zfirst && is_linear(n) && n->inputs[0] == 0) r->rule[i] = RULE_ZBOX;
    }
    return true;
}

/* Strict float list "a,b,c" -> vals; returns count or -1 on junk.  A
 * trailing word (e.g. "bias") is returned in *word. */
static int parse_numbers(char *s, float *vals, int max, char **word)
{
    int n = 0;
    char *save = NULL;
    *word = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        errno = 0;
        float v = strtof(tok, &end);
        if (end == tok || *end || errno || !isfinite(v)) {
            if (!*word && isalpha((unsigned char)tok[0])) {
                *word = tok;
                continue;
            }
            return -1;
        }
        if (*word || n >= max) return -1; /* numbers after the word, too many */
        vals[n++] = v;
    }
    return n;
}

/* Parses RULE ("alphabeta:2,1") into *out; errors quote `item`. */
static ts_status parse_rule(char *rule, int k, const char *item, ts_lrp_rule *out)
{
    char *params = strchr(rule, ':');
    if (params) *params++ = '\0';
    float v[4];
    char *word = NULL;
    int nv = 0;
    if (params) {
        nv = parse_numbers(params, v, 4, &word);
        if (nv < 0)
            return ts_error(TS_ERR_ARG, "rule string item %d '%s': bad parameters after '%s:'", k,
                            item, rule);
    }
    *out = (ts_lrp_rule){ 0 };
    if (!strcmp(rule, "epsilon") || !strcmp(rule, "eps")) {
        out->kind = TS_LRP_EPSILON;
        out->eps = 0.01f;
        if (word || nv > 1)
            return ts_error(TS_ERR_ARG, "rule string item %d '%s': epsilon takes one number", k, item);
        if (nv == 1) out->eps = v[0];
        if (out->eps < 0)
            return ts_error(TS_ERR_ARG, "rule string item %d '%s': epsilon must be >= 0", k, item);
    } else if (!strcmp(rule, "lrp0") || !strcmp(rule, "z")) {
        if (params)
            return ts_error(TS_ERR_ARG, "rule string item %d '%s': %s takes no parameters", k, item, rule);
        *out = RULE_LRP0;
    } else if (!strcmp(rule, "alphabeta") || !strcmp(rule, "ab")) {
        out->kind = TS_LRP_ALPHABETA;
        out->alpha = 2, out->beta = 1;
        if (word && strcmp(word, "bias"))
            return ts_error(TS_ERR_ARG, "rule string item %d '%s': unknown flag '%s' (only 'bias')",
                            k, item, word);
        out->with_bias = word != NULL;
        if (nv != 0 && nv != 2)
            return ts_error(TS_ERR_ARG, "rule string item %d '%s': alphabeta takes two numbers alpha,beta",
                            k, item);
        if (nv == 2) out->alpha = v[0], out->beta = v[1];
        if (out->beta < 0 || fabsf(out->alpha - out->beta - 1.0f) > 1e-5f)
            return ts_error(TS_ERR_ARG,
                            "rule string item %d '%s': alphabeta needs beta >= 0 and alpha - beta = 1",
                            k, item);
    } else if (!strcmp(rule, "flat") || !strcmp(rule, "wsquare") || !strcmp(rule, "w2") ||
               !strcmp(rule, "zbox")) {
        if (params)
            return ts_error(TS_ERR_ARG, "rule string item %d '%s': %s takes no parameters", k, item, rule);
        out->kind = !strcmp(rule, "flat") ? TS_LRP_FLAT
                  : !strcmp(rule, "zbox") ? TS_LRP_ZBOX : TS_LRP_WSQUARE;
    } else {
        return ts_error(TS_ERR_ARG,
                        "rule string item %d '%s': unknown rule '%s' (epsilon[:E], lrp0, "
                        "alphabeta[:A,B[,bias]], flat, wsquare, zbox)",
                        k, item, rule);
    }
    return TS_OK;
}

static bool selector_matches(const ts_graph *g, int i, const char *sel)
{
    const ts_node *n = &g->nodes[i];
    if (!is_linear(n)) return false;
    if (!strcmp(sel, "@all")) return true;
    if (!strcmp(sel, "@conv")) return n->op == TS_OP_CONV2D;
    if (!strcmp(sel, "@fc")) return n->op == TS_OP_FC;
    if (!strcmp(sel, "@first")) return n->inputs[0] == 0;
    return fnmatch(sel, n->name, 0) == 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

ts_status ts_lrp_rules_parse(const ts_graph *g, const char *spec, ts_lrp_rules *out)
{
    memset(out, 0, sizeof *out);
    if (!spec) spec = "";
    if (strlen(spec) >= TS_LRP_SPEC_MAX)
        return ts_error(TS_ERR_ARG, "rule string longer than %d characters", TS_LRP_SPEC_MAX - 1);
    out->n_nodes = g->n_nodes;
    out->rule = calloc((size_t)g->n_nodes, sizeof *out->rule);
    if (!out->rule) return ts_error(TS_ERR_OOM, "rule table");
    strcpy(out->spec, spec);
    apply_preset(g, out, "adience");

    char buf[TS_LRP_SPEC_MAX], *save = NULL;
    strcpy(buf, spec);
    int k = 0;
    ts_status st = TS_OK;
    for (char *it = strtok_r(buf, ";", &save); it; it = strtok_r(NULL, ";", &save)) {
        char *item = trim(it);
        if (!*item) continue;
        k++;
        char shown[160];
        snprintf(shown, sizeof shown, "%s", item);
        char *eq = strchr(item, '=');
        if (!eq) {
            st = ts_error(TS_ERR_ARG, "rule string item %d '%s': expected SELECTOR=RULE or preset=NAME",
                          k, shown);
            break;
        }
        *eq = '\0';
        char *sel = trim(item), *rhs = trim(eq + 1);
        if (!*sel || !*rhs) {
            st = ts_error(TS_ERR_ARG, "rule string item %d '%s': empty %s", k, shown,
                          *sel ? "rule" : "selector");
            break;
        }
        if (!strcmp(sel, "preset")) {
            if (!apply_preset(g, out, rhs)) {
                st = ts_error(TS_ERR_ARG, "rule string item %d '%s': unknown preset '%s' (%s)", k,
                              shown, rhs, PRESETS);
                break;
            }
            continue;
        }
        ts_lrp_rule rule;
        if ((st = parse_rule(rhs, k, shown, &rule)) != TS_OK) break;
        if (sel[0] == '@' && strcmp(sel, "@all") && strcmp(sel, "@conv") && strcmp(sel, "@fc") &&
            strcmp(sel, "@first")) {
            st = ts_error(TS_ERR_ARG, "rule string item %d '%s': unknown selector '%s' (@all, @conv, "
                          "@fc, @first or a layer name glob)", k, shown, sel);
            break;
        }
        int hits = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (selector_matches(g, i, sel)) {
                if (rule.kind == TS_LRP_ZBOX && g->nodes[i].inputs[0] != 0) {
                    st = ts_error(TS_ERR_ARG, "rule string item %d '%s': zbox needs a layer fed by the "
                                  "input, '%s' is not", k, shown, g->nodes[i].name);
                    break;
                }
                out->rule[i] = rule;
                hits++;
            }
        if (st != TS_OK) break;
        if (!hits) {
            int idx = ts_graph_index(g, sel);
            st = ts_error(TS_ERR_ARG, "rule string item %d '%s': %s", k, shown,
                          idx >= 0 ? "rules apply to conv2d and fc layers only"
                                   : "no conv2d/fc layer matches the selector");
            break;
        }
    }
    if (st != TS_OK) ts_lrp_rules_clear(out);
    return st;
}

void ts_lrp_rules_clear(ts_lrp_rules *r)
{
    if (!r) return;
    free(r->rule);
    memset(r, 0, sizeof *r);
}

void ts_lrp_rules_set_bounds(ts_lrp_rules *r, int c, float low, float high)
{
    TS_ASSERT(c >= 0 && c < TS_LRP_MAX_INPUT_C && low <= high);
    r->low[c] = low;
    r->high[c] = high;
    if (c + 1 > r->bounds_c) r->bounds_c = c + 1;
}

/* Shortest %g form that reads back as the same float. */
static const char *fmt_float(float v, char *buf, size_t len)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtof(buf, NULL) == v) break;
    }
    return buf;
}

const char *ts_lrp_rule_str(const ts_lrp_rule *rule, char *buf, size_t len)
{
    char a[32], b[32];
    switch (rule->kind) {
    case TS_LRP_EPSILON:
        if (rule->eps == 0) snprintf(buf, len, "lrp0");
        else snprintf(buf, len, "epsilon:%s", fmt_float(rule->eps, a, sizeof a));
        break;
    case TS_LRP_ALPHABETA:
        snprintf(buf, len, "alphabeta:%s,%s%s", fmt_float(rule->alpha, a, sizeof a),
                 fmt_float(rule->beta, b, sizeof b), rule->with_bias ? ",bias" : "");
        break;
    case TS_LRP_FLAT: snprintf(buf, len, "flat"); break;
    case TS_LRP_WSQUARE: snprintf(buf, len, "wsquare"); break;
    case TS_LRP_ZBOX: snprintf(buf, len, "zbox"); break;
    default: snprintf(buf, len, "none"); break;
    }
    return buf;
}

const char *ts_lrp_rules_describe(const ts_graph *g, const ts_lrp_rules *r, char *buf, size_t len)
{
    size_t used = 0;
    if (len) buf[0] = '\0';
    for (int i = 0; i < g->n_nodes && i < r->n_nodes; i++) {
        if (!is_linear(&g->nodes[i])) continue;
        char one[64];
        int w = snprintf(buf + used, used < len ? len - used : 0, "%s%s=%s", used ? ";" : "",
                         g->nodes[i].name, ts_lrp_rule_str(&r->rule[i], one, sizeof one));
        if (w < 0 || used + (size_t)w >= len) break;
        used += (size_t)w;
    }
    return buf;
}

/* ---- targets --------------------------------------------------------------- */

static int class_index(const char *s, size_t n, const char *const *names, int n_classes)
{
    if (!n) return -1;
    if (names)
        for (int c = 0; c < n_classes; c++)
            if (names[c] && strlen(names[c]) == n && !strncasecmp(names[c], s, n)) return c;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]) || v > 1000000) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < n_classes ? (int)v : -1;
}

ts_status ts_lrp_target_parse(const char *s, const char *const *class_names, int n_classes,
                              ts_lrp_target *out)
{
    *out = (ts_lrp_target){ TS_LRP_TARGET_PREDICTED, -1, -1 };
    if (!s || !*s || !strcmp(s, "predicted") || !strcmp(s, "pred")) return TS_OK;
    size_t n = strlen(s);
    int a = class_index(s, n, class_names, n_classes);
    if (a >= 0) {
        *out = (ts_lrp_target){ TS_LRP_TARGET_CLASS, a, -1 };
        return TS_OK;
    }
    for (const char *d = strchr(s, '-'); d; d = strchr(d + 1, '-')) {
        a = class_index(s, (size_t)(d - s), class_names, n_classes);
        int b = class_index(d + 1, strlen(d + 1), class_names, n_classes);
        if (a >= 0 && b >= 0) {
            *out = (ts_lrp_target){ TS_LRP_TARGET_CONTRAST, a, b };
            return TS_OK;
        }
    }
    return ts_error(TS_ERR_ARG, "target '%s': not 'predicted', a class index below %d, a class "
                    "name, or A-B", s, n_classes);
}

ts_status ts_lrp_target_for_model(const ts_model *m, const char *s, ts_lrp_target *out)
{
    ts_model_head heads[TS_MODEL_MAX_HEADS];
    int nh = ts_model_heads(m, heads, TS_MODEL_MAX_HEADS);
    if (!heads[0].sigmoid)
        return ts_lrp_target_parse(s, (const char *const *)m->meta.classes, m->meta.n_classes, out);
    *out = (ts_lrp_target){ TS_LRP_TARGET_SIGNED, 0, 0 };
    if (!s || !*s || !strcmp(s, "predicted") || !strcmp(s, "pred")) return TS_OK;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    char *eq = strchr(buf, '=');
    if (eq) *eq = '\0';
    int found = -1, sign = 0, matches = 0;
    for (int k = 0; k < nh; k++) {
        if (!strcmp(heads[k].trait, buf)) {
            found = k;
            if (eq) {
                sign = !strcmp(eq + 1, heads[k].classes[1]) ? 1 : !strcmp(eq + 1, heads[k].classes[0]) ? -1 : 2;
                if (sign == 2)
                    return ts_error(TS_ERR_ARG, "target '%s': trait '%s' has the classes '%s' and '%s'", s, buf,
                                    heads[k].classes[0], heads[k].classes[1]);
            }
            matches = 1;
            break;
        }
        if (!eq)
            for (int c = 0; c < 2; c++)
                if (!strcmp(heads[k].classes[c], buf)) {
                    if (matches++ == 0) found = k, sign = c ? 1 : -1;
                }
    }
    if (found < 0 && !eq) {
        char *end;
        long v = strtol(buf, &end, 10);
        if (*buf && !*end && v >= 0 && v < nh) found = (int)v, matches = 1;
    }
    if (found < 0 || matches != 1) {
        char names[512] = "";
        for (int k = 0; k < nh; k++) {
            strncat(names, k ? ", " : "", sizeof names - strlen(names) - 1);
            strncat(names, heads[k].trait, sizeof names - strlen(names) - 1);
        }
        return ts_error(TS_ERR_ARG, "target '%s': %s; this model predicts %s (give TRAIT or TRAIT=CLASS)", s,
                        matches > 1 ? "a class of several traits" : "no such trait or class", names);
    }
    *out = (ts_lrp_target){ TS_LRP_TARGET_SIGNED, heads[found].output, sign };
    return TS_OK;
}

const char *ts_lrp_target_describe(const ts_model *m, const ts_lrp_stats *st, char *buf, size_t len)
{
    const int K = m->meta.n_classes;
    if (st->sign != 0) {
        ts_model_head heads[TS_MODEL_MAX_HEADS];
        int nh = ts_model_heads(m, heads, TS_MODEL_MAX_HEADS);
        for (int k = 0; k < nh; k++)
            if (heads[k].output == st->a) {
                snprintf(buf, len, "%s=%s", heads[k].trait, heads[k].classes[st->sign > 0 ? 1 : 0]);
                return buf;
            }
    }
    const char *a = st->a >= 0 && st->a < K ? m->meta.classes[st->a] : "?";
    if (st->b >= 0 && st->b < K) snprintf(buf, len, "%s-%s", a, m->meta.classes[st->b]);
    else snprintf(buf, len, "%s", a);
    return buf;
}

/* ---- the propagator ------------------------------------------------------- */

typedef struct modw {
    float *pos, *neg, *sq; /* w+, w-, w^2 (numel of the weight), NULL if unused */
    float *bpos, *bneg;    /* b+, b- (alphabeta with bias) */
} modw;

struct ts_lrp {
    ts_graph *g;
    const ts_lrp_rules *rules;
    int batch;
    ts_arena arena;   /* relevance of every node for `batch` */
    ts_tensor *rel;   /* n_nodes */
    bool *live;       /* node holds relevance this pass */
    modw *mw;         /* n_nodes */
    float *scratch;
    size_t scratch_cap;
    float *ones;      /* constant 1 plane(s) */
    size_t ones_cap;
};

static void modw_clear(modw *m)
{
    free(m->pos), free(m->neg), free(m->sq), free(m->bpos), free(m->bneg);
    memset(m, 0, sizeof *m);
}

ts_status ts_lrp_refresh(ts_lrp *l)
{
    ts_graph *g = l->g;
    for (int i = 0; i < g->n_nodes; i++) {
        modw *m = &l->mw[i];
        modw_clear(m);
        const ts_node *n = &g->nodes[i];
        if (!is_linear(n)) continue;
        const ts_lrp_rule *r = &l->rules->rule[i];
        size_t nw = ts_tensor_numel(&n->weight);
        bool need_pm = r->kind == TS_LRP_ALPHABETA || r->kind == TS_LRP_ZBOX;
        if (need_pm) {
            m->pos = malloc(nw * sizeof(float));
            m->neg = malloc(nw * sizeof(float));
            if (!m->pos || !m->neg) return ts_error(TS_ERR_OOM, "lrp: weights of '%s'", n->name);
            for (size_t k = 0; k < nw; k++) {
                float w = n->weight.data[k];
                m->pos[k] = w > 0 ? w : 0;
                m->neg[k] = w < 0 ? w : 0;
            }
        }
        if (r->kind == TS_LRP_WSQUARE || r->kind == TS_LRP_FLAT) {
            m->sq = malloc(nw * sizeof(float));
            if (!m->sq) return ts_error(TS_ERR_OOM, "lrp: weights of '%s'", n->name);
            for (size_t k = 0; k < nw; k++) {
                float w = n->weight.data[k];
                m->sq[k] = r->kind == TS_LRP_FLAT ? 1.0f : w * w;
            }
        }
        if (r->kind == TS_LRP_ALPHABETA && r->with_bias && n->bias.data) {
            int o = n->out_c;
            m->bpos = malloc((size_t)o * sizeof(float));
            m->bneg = malloc((size_t)o * sizeof(float));
            if (!m->bpos || !m->bneg) return ts_error(TS_ERR_OOM, "lrp: biases of '%s'", n->name);
            for (int k = 0; k < o; k++) {
                float b = n->bias.data[k];
                m->bpos[k] = b > 0 ? b : 0;
                m->bneg[k] = b < 0 ? b : 0;
            }
        }
    }
    return TS_OK;
}

ts_status ts_lrp_new(ts_graph *g, const ts_lrp_rules *rules, ts_lrp **out)
{
    *out = NULL;
    if (rules->n_nodes != g->n_nodes || !rules->rule)
        return ts_error(TS_ERR_ARG, "lrp: rules were parsed for another graph");
    if (g->backend && g->backend->device != TS_DEVICE_CPU)
        return ts_error(TS_ERR_UNSUPPORTED, "lrp: the graph must run on the CPU backend (it runs on %s)",
                        g->backend->name);
    ts_lrp *l = calloc(1, sizeof *l);
    if (!l) return ts_error(TS_ERR_OOM, "lrp");
    l->g = g;
    l->rules = rules;
    l->rel = calloc((size_t)g->n_nodes, sizeof *l->rel);
    l->live = calloc((size_t)g->n_nodes, sizeof *l->live);
    l->mw = calloc((size_t)g->n_nodes, sizeof *l->mw);
    if (!l->rel || !l->live || !l->mw) {
        ts_lrp_free(l);
        return ts_error(TS_ERR_OOM, "lrp");
    }
    ts_status st = ts_lrp_refresh(l);
    if (st != TS_OK) {
        ts_lrp_free(l);
        return st;
    }
    *out = l;
    return TS_OK;
}

void ts_lrp_free(ts_lrp *l)
{
    if (!l) return;
    if (l->mw)
        for (int i = 0; i < l->g->n_nodes; i++) modw_clear(&l->mw[i]);
    free(l->mw);
    free(l->rel);
    free(l->live);
    ts_arena_clear(&l->arena);
    free(l->scratch);
    free(l->ones);
    free(l);
}

static ts_status set_batch(ts_lrp *l, int n)
{
    if (l->batch == n) return TS_OK;
    ts_graph *g = l->g;
    size_t total = 0;
    for (int i = 0; i < g->n_nodes; i++)
        total += ts_arena_size_for(n, g->nodes[i].c, g->nodes[i].h, g->nodes[i].w);
    ts_arena_clear(&l->arena);
    l->batch = 0;
    TS_TRY(ts_arena_init(&l->arena, total));
    for (int i = 0; i < g->n_nodes; i++)
        l->rel[i] = ts_arena_take(&l->arena, n, g->nodes[i].c, g->nodes[i].h, g->nodes[i].w);
    l->batch = n;
    return TS_OK;
}

static float *scratch(ts_lrp *l, size_t floats)
{
    if (floats > l->scratch_cap) {
        free(l->scratch);
        l->scratch = malloc(floats * sizeof(float));
        l->scratch_cap = l->scratch ? floats : 0;
    }
    return l->scratch;
}

static const float *ones(ts_lrp *l, size_t floats)
{
    if (floats > l->ones_cap) {
        free(l->ones);
        l->ones = malloc(floats * sizeof(float));
        l->ones_cap = l->ones ? floats : 0;
        for (size_t k = 0; l->ones && k < floats; k++) l->ones[k] = 1.0f;
    }
    return l->ones;
}

/* One term of the generic step: a modified weight (O, K) and a modified
 * input, (C,H,W) for one sample of a conv or (N,K) rows for an fc. */
typedef struct term {
    const float *w;
    const float *x;
} term;

#define MAX_TERMS 3

/* S = R / stab(Z), in place in z.  eps >= 0 with use_eps: Z + eps sign(Z);
 * otherwise a zero denominator gives zero. */
static void divide(float *z, const float *r, size_t n, bool use_eps, float eps)
{
    if (use_eps) {
        for (size_t k = 0; k < n; k++) {
            float d = z[k] + (z[k] >= 0 ? eps : -eps);
            z[k] = d != 0 ? r[k] / d : 0.0f;
        }
    } else {
        for (size_t k = 0; k < n; k++) z[k] = z[k] != 0 ? r[k] / z[k] : 0.0f;
    }
}

/* Convolution geometry of node nd fed by `in`. */
typedef struct cgeom {
    int C, H, W, O, OH, OW, KH, KW, S, pt, pl, G, Cg, Og, K, P;
} cgeom;

static cgeom conv_geom(const ts_node *nd, const ts_node *in)
{
    cgeom c = { .C = in->c, .H = in->h, .W = in->w, .O = nd->c, .OH = nd->h, .OW = nd->w,
                .KH = nd->kh, .KW = nd->kw, .S = nd->stride, .pt = nd->pad_t, .pl = nd->pad_l,
                .G = nd->groups };
    c.Cg = c.C / c.G;
    c.Og = c.O / c.G;
    c.K = c.Cg * c.KH * c.KW;
    c.P = c.OH * c.OW;
    return c;
}

/* col (K, P) from channels [0, Cg) of x (Cg,H,W); zero outside the image. */
static void im2col(const cgeom *g, const float *x, float *col)
{
    for (int c = 0; c < g->Cg; c++)
        for (int ky = 0; ky < g->KH; ky++)
            for (int kx = 0; kx < g->KW; kx++) {
                float *row = col + ((size_t)(c * g->KH + ky) * g->KW + kx) * g->P;
                const float *plane = x + (size_t)c * g->H * g->W;
                for (int oy = 0; oy < g->OH; oy++) {
                    int iy = oy * g->S - g->pt + ky;
                    float *dst = row + (size_t)oy * g->OW;
                    if (iy < 0 || iy >= g->H) {
                        memset(dst, 0, (size_t)g->OW * sizeof(float));
                        continue;
                    }
                    const float *src = plane + (size_t)iy * g->W;
                    for (int ox = 0; ox < g->OW; ox++) {
                        int ix = ox * g->S - g->pl + kx;
                        dst[ox] = ix >= 0 && ix < g->W ? src[ix] : 0.0f;
                    }
                }
            }
}

/* x (Cg,H,W) += coef * col2im(col). */
static void col2im_add(const cgeom *g, const float *col, float coef, float *x)
{
    for (int c = 0; c < g->Cg; c++)
        for (int ky = 0; ky < g->KH; ky++)
            for (int kx = 0; kx < g->KW; kx++) {
                const float *row = col + ((size_t)(c * g->KH + ky) * g->KW + kx) * g->P;
                float *plane = x + (size_t)c * g->H * g->W;
                for (int oy = 0; oy < g->OH; oy++) {
                    int iy = oy * g->S - g->pt + ky;
                    if (iy < 0 || iy >= g->H) continue;
                    const float *src = row + (size_t)oy * g->OW;
                    float *dst = plane + (size_t)iy * g->W;
                    for (int ox = 0; ox < g->OW; ox++) {
                        int ix = ox * g->S - g->pl + kx;
                        if (ix >= 0 && ix < g->W) dst[ix] += coef * src[ox];
                    }
                }
            }
}

/* The generic step for one sample of a convolution.  z_fwd (O,P) replaces
 * the computed Z when given (epsilon: the forward pass's pre-activations). */
static ts_status conv_step(ts_lrp *l, const ts_node *nd, const cgeom *g, const term *t, int nt,
                           const float *bias, const float *z_fwd, bool use_eps, float eps,
                           float coef, const float *R, float *Rin)
{
    size_t kp = (size_t)g->K * g->P, op = (size_t)g->Og * g->P;
    float *buf = scratch(l, kp * (size_t)(nt + 2) + op);
    if (!buf) return ts_error(TS_ERR_OOM, "lrp: scratch for '%s'", nd->name);
    float *cols = buf, *d = buf + kp * nt, *acc = d + kp, *z = acc + kp;
    size_t wg = (size_t)g->Og * g->K; /* weight floats per group */
    for (int gi = 0; gi < g->G; gi++) {
        size_t xoff = (size_t)gi * g->Cg * g->H * g->W;
        for (int k = 0; k < nt; k++) im2col(g, t[k].x + xoff, cols + kp * k);
        const float *Rg = R + (size_t)gi * op;
        if (z_fwd) {
            memcpy(z, z_fwd + (size_t)gi * op, op * sizeof(float));
        } else {
            for (int k = 0; k < nt; k++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->Og, g->P, g->K, 1.0f,
                            t[k].w + gi * wg, g->K, cols + kp * k, g->P, k ? 1.0f : 0.0f, z, g->P);
            if (bias)
                for (int o = 0; o < g->Og; o++) {
                    float b = bias[gi * g->Og + o];
                    float *zr = z + (size_t)o * g->P;
                    for (int p = 0; p < g->P; p++) zr[p] += b;
                }
        }
        divide(z, Rg, op, use_eps, eps);
        for (int k = 0; k < nt; k++) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->K, g->P, g->Og, 1.0f,
                        t[k].w + gi * wg, g->K, z, g->P, 0.0f, d, g->P);
            const float *ck = cols + kp * k;
            if (k == 0)
                for (size_t q = 0; q < kp; q++) acc[q] = ck[q] * d[q];
            else
                for (size_t q = 0; q < kp; q++) acc[q] += ck[q] * d[q];
        }
        col2im_add(g, acc, coef, Rin + xoff);
    }
    return TS_OK;
}

/* The generic step for a whole batch of an fc layer: x rows (N,K). */
static ts_status fc_step(ts_lrp *l, const ts_node *nd, int N, int K, const term *t, int nt,
                         const float *bias, const float *z_fwd, bool use_eps, float eps,
                         float coef, const float *R, float *Rin)
{
    int O = nd->c;
    size_t nk = (size_t)N * K, no = (size_t)N * O;
    float *buf = scratch(l, nk + no);
    if (!buf) return ts_error(TS_ERR_OOM, "lrp: scratch for '%s'", nd->name);
    float *d = buf, *z = buf + nk;
    if (z_fwd) {
        memcpy(z, z_fwd, no * sizeof(float));
    } else {
        for (int k = 0; k < nt; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, K, 1.0f, t[k].x, K, t[k].w,
                        K, k ? 1.0f : 0.0f, z, O);
        if (bias)
            for (int n = 0; n < N; n++)
                for (int o = 0; o < O; o++) z[(size_t)n * O + o] += bias[o];
    }
    divide(z, R, no, use_eps, eps);
    for (int k = 0; k < nt; k++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, O, 1.0f, z, O, t[k].w, K, 0.0f,
                    d, K);
        for (size_t q = 0; q < nk; q++) Rin[q] += coef * t[k].x[q] * d[q];
    }
    return TS_OK;
}

/* Splits x into x+ and x- (n floats each); returns true when x has
 * negative entries. */
static bool split_sign(const float *x, size_t n, float *xp, float *xn)
{
    bool neg = false;
    for (size_t k = 0; k < n; k++) {
        xp[k] = x[k] > 0 ? x[k] : 0;
        xn[k] = x[k] < 0 ? x[k] : 0;
        neg |= x[k] < 0;
    }
    return neg;
}

/* Relevance through one linear node i (conv2d or fc). */
static ts_status linear_node(ts_lrp *l, int i)
{
    ts_graph *g = l->g;
    const ts_node *nd = &g->nodes[i];
    const ts_node *in = &g->nodes[nd->inputs[0]];
    const ts_lrp_rule *r = &l->rules->rule[i];
    const modw *m = &l->mw[i];
    const float *W = nd->weight.data;
    int N = l->batch;
    bool fc = nd->op == TS_OP_FC;
    size_t xs = (size_t)in->c * in->h * in->w; /* input floats per sample */
    size_t ys = (size_t)nd->c * nd->h * nd->w;
    /* Batched fc works on all rows at once, conv on one sample at a time. */
    int rows = fc ? N : 1, loops = fc ? 1 : N;
    size_t plane = xs * rows;

    /* Modified inputs live after the step's scratch: own buffer. */
    float *xin = NULL;
    int n_planes = r->kind == TS_LRP_ALPHABETA || r->kind == TS_LRP_ZBOX ? 2 : 0;
    if (n_planes) {
        xin = malloc(plane * n_planes * sizeof(float));
        if (!xin) return ts_error(TS_ERR_OOM, "lrp: inputs of '%s'", nd->name);
    }
    if (r->kind == TS_LRP_ZBOX) {
        if (l->rules->bounds_c != in->c) {
            free(xin);
            return ts_error(TS_ERR_ARG, "lrp: zbox on '%s' needs input bounds for %d channels "
                            "(have %d)", nd->name, in->c, l->rules->bounds_c);
        }
        size_t hw = (size_t)in->h * in->w;
        for (int s = 0; s < rows; s++)
            for (int c = 0; c < in->c; c++)
                for (size_t q = 0; q < hw; q++) {
                    xin[s * xs + c * hw + q] = -l->rules->low[c];
                    xin[plane + s * xs + c * hw + q] = -l->rules->high[c];
                }
    }
    const float *one = NULL;
    if (r->kind == TS_LRP_FLAT || r->kind == TS_LRP_WSQUARE) {
        one = ones(l, plane);
        if (!one) return ts_error(TS_ERR_OOM, "lrp: ones for '%s'", nd->name);
    }

    ts_status st = TS_OK;
    for (int s = 0; s < loops && st == TS_OK; s++) {
        const float *x = in->out.data + (size_t)s * xs;
        const float *R = l->rel[i].data + (size_t)s * ys;
        const float *zf = nd->out.data + (size_t)s * ys;
        float *Rin = l->rel[nd->inputs[0]].data + (size_t)s * xs;
        cgeom cg;
        if (!fc) cg = conv_geom(nd, in);
        term t[MAX_TERMS];
        int nt = 0;
        const float *b = NULL, *z = NULL;
        bool use_eps = false;
        float eps = 0;

#define STEP(coef) (fc ? fc_step(l, nd, N, (int)xs, t, nt, b, z, use_eps, eps, (coef), R, Rin) \
                       : conv_step(l, nd, &cg, t, nt, b, z, use_eps, eps, (coef), R, Rin))
        switch (r->kind) {
        case TS_LRP_EPSILON:
            t[nt++] = (term){ W, x };
            z = zf;
            use_eps = true;
            eps = r->eps;
            st = STEP(1.0f);
            break;
        case TS_LRP_FLAT:
        case TS_LRP_WSQUARE:
            t[nt++] = (term){ m->sq, one };
            st = STEP(1.0f);
            break;
        case TS_LRP_ZBOX:
            t[nt++] = (term){ W, x };
            t[nt++] = (term){ m->pos, xin };
            t[nt++] = (term){ m->neg, xin + plane };
            st = STEP(1.0f);
            break;
        case TS_LRP_ALPHABETA: {
            bool neg = split_sign(x, plane, xin, xin + plane);
            const float *xp = xin, *xn = xin + plane;
            if (r->alpha != 0) {
                nt = 0;
                t[nt++] = (term){ m->pos, xp };
                if (neg) t[nt++] = (term){ m->neg, xn };
                b = m->bpos;
                st = STEP(r->alpha);
            }
            if (st == TS_OK && r->beta != 0) {
                nt = 0;
                t[nt++] = (term){ m->neg, xp };
                if (neg) t[nt++] = (term){ m->pos, xn };
                b = m->bneg;
                st = STEP(-r->beta);
            }
            break;
        }
        default:
            st = ts_error(TS_ERR_ARG, "lrp: no rule for layer '%s'", nd->name);
        }
#undef STEP
    }
    free(xin);
    return st;
}

/* Max pooling: everything to the forward argmax (aux). */
static ts_status maxpool_node(ts_lrp *l, int i)
{
    const ts_node *nd = &l->g->nodes[i];
    const ts_node *in = &l->g->nodes[nd->inputs[0]];
    if (!nd->aux.data)
        return ts_error(TS_ERR_SHAPE, "lrp: maxpool '%s' kept no argmax", nd->name);
    size_t out_plane = (size_t)nd->h * nd->w, in_plane = (size_t)in->h * in->w;
    size_t planes = (size_t)l->batch * nd->c;
    const float *R = l->rel[i].data, *arg = nd->aux.data;
    float *Rin = l->rel[nd->inputs[0]].data;
    for (size_t p = 0; p < planes; p++)
        for (size_t q = 0; q < out_plane; q++) {
            /* -1 marks a window past the image (Caffe rounding): no input. */
            float a = arg[p * out_plane + q];
            if (!(a >= 0) || (size_t)a >= in_plane) continue;
            Rin[p * in_plane + (size_t)a] += R[p * out_plane + q];
        }
    return TS_OK;
}

/* Average pooling: each window's relevance in proportion to its inputs
 * (the cells inside the image; the padding holds no relevance). */
static ts_status avgpool_node(ts_lrp *l, int i)
{
    const ts_node *nd = &l->g->nodes[i];
    const ts_node *in = &l->g->nodes[nd->inputs[0]];
    int H = in->h, W = in->w;
    size_t out_plane = (size_t)nd->h * nd->w, in_plane = (size_t)H * W;
    size_t planes = (size_t)l->batch * nd->c;
    for (size_t p = 0; p < planes; p++) {
        const float *x = in->out.data + p * in_plane;
        const float *R = l->rel[i].data + p * out_plane;
        float *Rin = l->rel[nd->inputs[0]].data + p * in_plane;
        for (int oy = 0; oy < nd->h; oy++)
            for (int ox = 0; ox < nd->w; ox++) {
                int y0 = oy * nd->stride - nd->pad_t, x0 = ox * nd->stride - nd->pad_l;
                int y1 = y0 + nd->kh < H ? y0 + nd->kh : H, x1 = x0 + nd->kw < W ? x0 + nd->kw : W;
                if (y0 < 0) y0 = 0;
                if (x0 < 0) x0 = 0;
                if (y1 <= y0 || x1 <= x0) continue;
                double s = 0;
                for (int y = y0; y < y1; y++)
                    for (int xx = x0; xx < x1; xx++) s += x[y * W + xx];
                float r = R[oy * nd->w + ox];
                if (fabs(s) < 1e-12) {
                    float share = r / (float)((y1 - y0) * (x1 - x0));
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++) Rin[y * W + xx] += share;
                } else {
                    float f = (float)(r / s);
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++) Rin[y * W + xx] += f * x[y * W + xx];
                }
            }
    }
    return TS_OK;
}

/* Addition: R_k = x_k / sum_k x_k * R per element. */
static ts_status add_node(ts_lrp *l, int i)
{
    const ts_node *nd = &l->g->nodes[i];
    size_t n = ts_tensor_numel(&l->rel[i]);
    const float *R = l->rel[i].data;
    for (size_t q = 0; q < n; q++) {
        double s = 0;
        for (int k = 0; k < nd->n_inputs; k++) s += l->g->nodes[nd->inputs[k]].out.data[q];
        for (int k = 0; k < nd->n_inputs; k++) {
            float *Rin = l->rel[nd->inputs[k]].data;
            if (fabs(s) < 1e-12) Rin[q] += R[q] / (float)nd->n_inputs;
            else Rin[q] += (float)(l->g->nodes[nd->inputs[k]].out.data[q] / s) * R[q];
        }
    }
    return TS_OK;
}

/* Concatenation along channels: each input gets its channel slice. */
static ts_status concat_node(ts_lrp *l, int i)
{
    const ts_node *nd = &l->g->nodes[i];
    size_t hw = (size_t)nd->h * nd->w;
    for (int s = 0; s < l->batch; s++) {
        int c0 = 0;
        for (int k = 0; k < nd->n_inputs; k++) {
            const ts_node *in = &l->g->nodes[nd->inputs[k]];
            const float *R = l->rel[i].data + ((size_t)s * nd->c + c0) * hw;
            float *Rin = l->rel[nd->inputs[k]].data + (size_t)s * in->c * hw;
            for (size_t q = 0; q < (size_t)in->c * hw; q++) Rin[q] += R[q];
            c0 += in->c;
        }
    }
    return TS_OK;
}

static void pass_through(ts_lrp *l, int i)
{
    const ts_node *nd = &l->g->nodes[i];
    size_t n = ts_tensor_numel(&l->rel[i]);
    float *Rin = l->rel[nd->inputs[0]].data;
    const float *R = l->rel[i].data;
    for (size_t q = 0; q < n; q++) Rin[q] += R[q];
}

const ts_tensor *ts_lrp_node_relevance(const ts_lrp *l, int index)
{
    TS_ASSERT(index >= 0 && index < l->g->n_nodes && l->batch > 0);
    return &l->rel[index];
}

ts_status ts_lrp_backward(ts_lrp *l, const ts_tensor *input, const ts_lrp_target *targets,
                          int n_targets, ts_tensor *relevance, ts_lrp_stats *stats)
{
    ts_graph *g = l->g;
    int N = input->n;
    char b1[48], b2[48];
    if (g->batch != N)
        return ts_error(TS_ERR_SHAPE, "lrp: the graph's last forward pass had batch %d, input %s",
                        g->batch, ts_shape_str(input, b1, sizeof b1));
    if (!ts_tensor_same_shape(input, relevance))
        return ts_error(TS_ERR_SHAPE, "lrp: relevance %s does not match input %s",
                        ts_shape_str(relevance, b1, sizeof b1), ts_shape_str(input, b2, sizeof b2));
    if (n_targets != 1 && n_targets != N)
        return ts_error(TS_ERR_ARG, "lrp: %d targets for %d samples", n_targets, N);
    TS_TRY(set_batch(l, N));
    ts_arena_zero(&l->arena);
    memset(l->live, 0, (size_t)g->n_nodes * sizeof *l->live);

    /* Starting relevance: the explained logit(s) of each sample. */
    const ts_node *on = &g->nodes[g->output];
    int K = on->c * on->h * on->w;
    for (int s = 0; s < N; s++) {
        const ts_lrp_target *t = &targets[n_targets == 1 ? 0 : s];
        const float *z = on->out.data + (size_t)s * K;
        int a = t->a, b = t->kind == TS_LRP_TARGET_CONTRAST ? t->b : -1;
        if (t->kind == TS_LRP_TARGET_SIGNED) {
            if (a < 0 || a >= K)
                return ts_error(TS_ERR_ARG, "lrp: target output %d out of range (the model has %d outputs)", a, K);
            int sign = t->b > 0 ? 1 : t->b < 0 ? -1 : (z[a] >= 0 ? 1 : -1);
            l->rel[g->output].data[(size_t)s * K + a] += (float)sign * z[a];
            if (stats) stats[s] = (ts_lrp_stats){ .a = a, .b = -1, .logit = (float)sign * z[a], .sign = sign };
            continue;
        }
        if (t->kind == TS_LRP_TARGET_PREDICTED) {
            a = 0;
            for (int k = 1; k < K; k++)
                if (z[k] > z[a]) a = k;
        }
        if (a < 0 || a >= K || b >= K || (t->kind == TS_LRP_TARGET_CONTRAST && b < 0))
            return ts_error(TS_ERR_ARG, "lrp: target class out of range (the model has %d outputs)", K);
        float *R = l->rel[g->output].data + (size_t)s * K;
        R[a] += z[a];
        if (b >= 0) R[b] -= z[b];
        if (stats) {
            stats[s] = (ts_lrp_stats){ .a = a, .b = b, .logit = z[a] - (b >= 0 ? z[b] : 0.0f) };
        }
    }
    l->live[g->output] = true;

    for (int i = g->output; i >= 1; i--) {
        if (!l->live[i]) continue;
        const ts_node *nd = &g->nodes[i];
        ts_status st = TS_OK;
        switch (nd->op) {
        case TS_OP_CONV2D:
        case TS_OP_FC: st = linear_node(l, i); break;
        case TS_OP_MAXPOOL: st = maxpool_node(l, i); break;
        case TS_OP_AVGPOOL: st = avgpool_node(l, i); break;
        case TS_OP_ADD: st = add_node(l, i); break;
        case TS_OP_CONCAT: st = concat_node(l, i); break;
        case TS_OP_RELU:
        case TS_OP_LEAKY_RELU:
        case TS_OP_LRN:
        case TS_OP_DROPOUT: pass_through(l, i); break;
        default: st = ts_error(TS_ERR_UNSUPPORTED, "lrp: op %s of '%s'", ts_op_name(nd->op), nd->name);
        }
        if (st != TS_OK) return st;
        for (int k = 0; k < nd->n_inputs; k++) l->live[nd->inputs[k]] = true;
    }

    memcpy(relevance->data, l->rel[0].data, ts_tensor_numel(relevance) * sizeof(float));
    if (stats) {
        size_t per = (size_t)input->c * input->h * input->w;
        for (int s = 0; s < N; s++) {
            double sum = 0, neg = 0, abs_sum = 0;
            const float *R = relevance->data + (size_t)s * per;
            for (size_t q = 0; q < per; q++) {
                sum += R[q];
                abs_sum += fabs(R[q]);
                if (R[q] < 0) neg -= R[q];
            }
            stats[s].relevance_sum = sum;
            stats[s].negative_share = abs_sum > 0 ? neg / abs_sum : 0;
        }
    }
    return TS_OK;
}

ts_status ts_lrp_explain(ts_lrp *l, const ts_tensor *input, const ts_lrp_target *targets,
                         int n_targets, ts_tensor *relevance, ts_lrp_stats *stats)
{
    ts_graph *g = l->g;
    bool training = g->training;
    g->training = false; /* dropout is the identity when explaining */
    ts_status st = ts_graph_forward(g, input);
    g->training = training;
    TS_TRY(st);
    return ts_lrp_backward(l, input, targets, n_targets, relevance, stats);
}

/* ---- reductions ----------------------------------------------------------- */

void ts_lrp_heatmap(const ts_tensor *relevance, int n, int c0, int c1, float *heat)
{
    TS_ASSERT(n >= 0 && n < relevance->n && c0 >= 0 && c0 <= c1 && c1 <= relevance->c);
    size_t hw = (size_t)relevance->h * relevance->w;
    memset(heat, 0, hw * sizeof(float));
    for (int c = c0; c < c1; c++) {
        const float *p = &TS_AT(relevance, n, c, 0, 0);
        for (size_t q = 0; q < hw; q++) heat[q] += p[q];
    }
}

void ts_lrp_channel_sums(const ts_tensor *relevance, int n, double *sums, double *abs_sums)
{
    TS_ASSERT(n >= 0 && n < relevance->n);
    size_t hw = (size_t)relevance->h * relevance->w;
    for (int c = 0; c < relevance->c; c++) {
        const float *p = &TS_AT(relevance, n, c, 0, 0);
        double s = 0, a = 0;
        for (size_t q = 0; q < hw; q++) s += p[q], a += fabs(p[q]);
        if (sums) sums[c] = s;
        if (abs_sums) abs_sums[c] = a;
    }
}

long ts_lrp_pool_cells(const float *heat, const uint8_t *index, int w, int h, int n_cells,
                       double *cell_sums, double *cell_abs)
{
    if (cell_sums) memset(cell_sums, 0, (size_t)n_cells * sizeof(double));
    if (cell_abs) memset(cell_abs, 0, (size_t)n_cells * sizeof(double));
    long hit = 0;
    for (size_t q = 0; q < (size_t)w * h; q++) {
        int k = index[q];
        if (k < 0 || k >= n_cells) continue;
        hit++;
        if (cell_sums) cell_sums[k] += heat[q];
        if (cell_abs) cell_abs[k] += fabs(heat[q]);
    }
    return hit;
}

void ts_lrp_pool_parts(const double *cell_sums68, double *part_sums)
{
    for (int p = 0; p < TS_PART_COUNT; p++) part_sums[p] = 0;
    for (int k = 0; k < TS_LANDMARKS; k++) {
        ts_face_part p = ts_part_of_landmark(k);
        if (p < TS_PART_COUNT) part_sums[p] += cell_sums68[k];
    }
}

/* ---- graph-free checks ---------------------------------------------------- */

static const char *const PRESET_NAMES[] = { "adience", "adience-a1b0", "epsilon", "lrp0", "composite" };

const char *ts_lrp_preset_name(int i)
{
    return i >= 0 && i < (int)(sizeof PRESET_NAMES / sizeof PRESET_NAMES[0]) ? PRESET_NAMES[i] : NULL;
}

bool ts_lrp_preset_rule(const char *name, bool is_conv, bool is_first, ts_lrp_rule *out)
{
    /* the table of apply_preset(), one layer at a time */
    const ts_lrp_rule *conv, *fc;
    bool zfirst = false;
    if (!strcmp(name, "adience")) conv = &RULE_AB21, fc = &RULE_EPS;
    else if (!strcmp(name, "adience-a1b0")) conv = &RULE_AB10, fc = &RULE_EPS;
    else if (!strcmp(name, "epsilon")) conv = &RULE_EPS, fc = &RULE_EPS;
    else if (!strcmp(name, "lrp0")) conv = &RULE_LRP0, fc = &RULE_LRP0;
    else if (!strcmp(name, "composite")) conv = &RULE_AB10, fc = &RULE_EPS, zfirst = true;
    else return false;
    *out = zfirst && is_first ? RULE_ZBOX : is_conv ? *conv : *fc;
    return true;
}

ts_status ts_lrp_rule_parse(const char *rule, ts_lrp_rule *out)
{
    char buf[160];
    if (!rule || strlen(rule) >= sizeof buf) return ts_error(TS_ERR_ARG, "rule '%.40s...' is too long", rule ? rule : "");
    snprintf(buf, sizeof buf, "%s", rule);
    return parse_rule(trim(buf), 1, rule, out);
}

ts_status ts_lrp_rules_check(const char *spec)
{
    if (!spec) return TS_OK;
    if (strlen(spec) >= TS_LRP_SPEC_MAX)
        return ts_error(TS_ERR_ARG, "rule string longer than %d characters", TS_LRP_SPEC_MAX - 1);
    char buf[TS_LRP_SPEC_MAX], *save = NULL;
    strcpy(buf, spec);
    int k = 0;
    for (char *it = strtok_r(buf, ";", &save); it; it = strtok_r(NULL, ";", &save)) {
        char *item = trim(it);
        if (!*item) continue;
        k++;
        char shown[160];
        snprintf(shown, sizeof shown, "%s", item);
        char *eq = strchr(item, '=');
        if (!eq)
            return ts_error(TS_ERR_ARG, "rule string item %d '%s': expected SELECTOR=RULE or preset=NAME", k, shown);
        *eq = '\0';
        char *sel = trim(item), *rhs = trim(eq + 1);
        if (!*sel || !*rhs)
            return ts_error(TS_ERR_ARG, "rule string item %d '%s': empty %s", k, shown, *sel ? "rule" : "selector");
        if (!strcmp(sel, "preset")) {
            ts_lrp_rule unused;
            if (!ts_lrp_preset_rule(rhs, true, false, &unused))
                return ts_error(TS_ERR_ARG, "rule string item %d '%s': unknown preset '%s' (%s)", k, shown, rhs,
                                PRESETS);
            continue;
        }
        ts_lrp_rule rule;
        TS_TRY(parse_rule(rhs, k, shown, &rule));
        if (sel[0] == '@' && strcmp(sel, "@all") && strcmp(sel, "@conv") && strcmp(sel, "@fc") &&
            strcmp(sel, "@first"))
            return ts_error(TS_ERR_ARG, "rule string item %d '%s': unknown selector '%s' (@all, @conv, "
                            "@fc, @first or a layer name glob)", k, shown, sel);
    }
    return TS_OK;
}
