/* lrp.c - Layer-wise Relevance Propagation over a ts_graph, on the graph's
 * backend (issue 14: the CPU or the GPU, through the backend table).
 *
 * The rules and their conventions are documented in lrp.h (section 4.1 of
 * the Adience LRP paper; Bach et al. 2015; Montavon et al.).  This file
 * writes every linear-layer rule as a sum of "terms" (W'_k, x'_k), each a
 * modified weight matrix and a modified input, of the backend's generic
 * step (backend.h, lrp_linear):
 *     Z_j  = sum_k sum_i W'_k[j,i] x'_k[i]  (+ b'_j)
 *     S_j  = R_j / stab(Z_j)
 *     R_i += coef * sum_k x'_k[i] * sum_j W'_k[j,i] S_j
 * (linear_node lists the rules as terms), and leaves the fixed rules of
 * the other ops to the backend's `relevance`.  The CPU's step is im2col and
 * SGEMMs (backend/cpu/lrp.c), the GPU's cuDNN convolutions and cuBLAS
 * (backend/cuda/cuda-backend.c); this file never touches tensor data
 * except the logits and the final input relevance, which it copies to and
 * from the host.
 *
 * Invariants: relevance buffers (one per node, (N,c,h,w), in the backend's
 * memory) are zeroed before each backward and only accumulated into, so
 * several consumers of a node sum their shares; modified weights are
 * rebuilt by ts_lrp_refresh(), and follow the graph when it moves to
 * another backend.
 */
#include "explain/lrp.h"

#include "nn/model.h"

#include "backend/backend.h"

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
    if (!heads[0].sigmoid) {
        /* "TRAIT" and "TRAIT=CLASS" name a softmax model's one head too, so
         * one target string (the app's, for two models side by side) can
         * address a multi-label model and a one-trait model alike. */
        size_t tl = strlen(heads[0].trait);
        if (s && !strncmp(s, heads[0].trait, tl) && (s[tl] == '\0' || s[tl] == '=')) {
            if (s[tl] == '\0') {
                *out = (ts_lrp_target){ TS_LRP_TARGET_PREDICTED, -1, -1 };
                return TS_OK;
            }
            int a = class_index(s + tl + 1, strlen(s + tl + 1), (const char *const *)m->meta.classes,
                                m->meta.n_classes);
            if (a >= 0) {
                *out = (ts_lrp_target){ TS_LRP_TARGET_CLASS, a, -1 };
                return TS_OK;
            }
            return ts_error(TS_ERR_ARG, "target '%s': trait '%s' has no class '%s'", s, heads[0].trait, s + tl + 1);
        }
        if (s && strchr(s, '=') && class_index(s, strlen(s), (const char *const *)m->meta.classes, m->meta.n_classes) < 0)
            return ts_error(TS_ERR_ARG, "target '%s': this model predicts '%s' only", s, heads[0].trait);
        return ts_lrp_target_parse(s, (const char *const *)m->meta.classes, m->meta.n_classes, out);
    }
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

/* Modified weights of one linear node, in the backend's memory (views into
 * ts_lrp.wts); NULL when its rule needs none. */
typedef struct modw {
    float *pos, *neg, *sq; /* w+, w-, w^2 or 1 (numel of the weight) */
    float *bpos, *bneg;    /* b+, b- (alphabeta with bias) */
    float *fw, *fb;        /* the weight and bias with the batchnorm behind
                            * folded in (canonisation); NULL when none */
} modw;

struct ts_lrp {
    ts_graph *g;
    const ts_lrp_rules *rules;
    const ts_backend *be; /* where wts, arena and planes live: g's backend at refresh */
    void *ctx;
    int batch;
    ts_arena arena;   /* relevance of every node for `batch` */
    ts_tensor *rel;   /* n_nodes */
    bool *live;       /* node holds relevance this pass */
    modw *mw;         /* n_nodes */
    int *fold;        /* n_nodes: for a batchnorm folded into the linear
                       * layer before it, that layer's index; else -1 */
    int *folded_by;   /* n_nodes: for that linear layer, the batchnorm; else -1 */
    ts_arena wts;     /* the modified weights */
    ts_arena planes;  /* two planes of the largest linear input for `batch` */
    size_t plane;     /* floats per plane */
    float *values;    /* host: per-channel values for fill_channels */
    int values_cap;
    float *host;      /* host: logits, then nothing */
    size_t host_cap;
};

static void lrp_arena_clear(ts_lrp *l, ts_arena *a)
{
    if (l->be && a->block) l->be->mem.arena_clear(l->ctx, a);
    memset(a, 0, sizeof *a);
}

/* Floats the modified weights of node n need under rule r; `folded`: a
 * batchnorm is folded into it. */
static size_t modw_floats(const ts_node *n, const ts_lrp_rule *r, bool folded)
{
    if (!is_linear(n)) return 0;
    size_t nw = ts_tensor_numel(&n->weight), total = 0;
    int o = n->out_c > 0 ? n->out_c : 1;
    if (folded) total += ts_arena_size_for(1, 1, 1, (int)nw) + ts_arena_size_for(1, o, 1, 1);
    if (r->kind == TS_LRP_ALPHABETA || r->kind == TS_LRP_ZBOX) total += 2 * ts_arena_size_for(1, 1, 1, (int)nw);
    if (r->kind == TS_LRP_WSQUARE || r->kind == TS_LRP_FLAT) total += ts_arena_size_for(1, 1, 1, (int)nw);
    /* a folded layer has a bias even when the layer itself has none */
    if (r->kind == TS_LRP_ALPHABETA && r->with_bias && (n->bias.data || folded))
        total += 2 * ts_arena_size_for(1, o, 1, 1);
    return total;
}

/* Canonisation (as zennit does it): a batchnorm whose input is a conv2d or
 * fc read by nothing else is, in evaluation, the affine map y = s z + t of
 * that layer's output z, s = gamma / sqrt(var + eps), t = beta - s mean;
 * the pair is one linear layer with weight s W (per output channel) and
 * bias s b + t, and LRP applies the linear layer's rule to it with the
 * batchnorm's output as Z.  A batchnorm anywhere else keeps its own rule
 * (backend.h, relevance). */
static void find_folds(ts_lrp *l)
{
    const ts_graph *g = l->g;
    for (int i = 0; i < g->n_nodes; i++) l->fold[i] = l->folded_by[i] = -1;
    for (int i = 1; i < g->n_nodes; i++) {
        int j = ts_batchnorm_fold_target(g, i);
        if (j < 0) continue;
        l->fold[i] = j;
        l->folded_by[j] = i;
    }
}

/* Writes the folded weight and bias of linear node j (find_folds) into fw
 * and fb, the backend's memory: computed on the host from copies. */
static ts_status fold_batchnorm(ts_lrp *l, int j, float *fw, float *fb)
{
    const ts_graph *g = l->g;
    const ts_node *n = &g->nodes[j], *bn = &g->nodes[l->folded_by[j]];
    size_t nw = ts_tensor_numel(&n->weight);
    int O = n->out_c;
    size_t per = nw / (size_t)O;
    float *h = malloc((nw + 6 * (size_t)O) * sizeof *h);
    if (!h) return ts_error(TS_ERR_OOM, "lrp: folding '%s' into '%s'", bn->name, n->name);
    float *w = h, *b = h + nw, *gm = b + O, *bt = gm + O, *mu = bt + O, *var = mu + O;
    memset(b, 0, (size_t)O * sizeof *b); /* a layer without a bias of its own */
    ts_status st = ts_graph_read(g, n->weight.data, w, nw);
    if (st == TS_OK && n->bias.data) st = ts_graph_read(g, n->bias.data, b, (size_t)O);
    if (st == TS_OK) st = ts_graph_read(g, bn->weight.data, gm, (size_t)O);
    if (st == TS_OK) st = ts_graph_read(g, bn->bias.data, bt, (size_t)O);
    if (st == TS_OK) st = ts_graph_read(g, bn->run_mean.data, mu, (size_t)O);
    if (st == TS_OK) st = ts_graph_read(g, bn->run_var.data, var, (size_t)O);
    if (st == TS_OK) {
        ts_batchnorm_fold(O, per, gm, bt, mu, var, bn->bn_eps, w, b);
        st = l->be->mem.upload(l->ctx, fw, w, nw);
        if (st == TS_OK) st = l->be->mem.upload(l->ctx, fb, b, (size_t)O);
    }
    free(h);
    return st;
}

ts_status ts_lrp_refresh(ts_lrp *l)
{
    ts_graph *g = l->g;
    void *gctx;
    const ts_backend *gbe = ts_graph_backend(g, &gctx);
    /* the graph may have moved since: everything follows it */
    if (l->be != gbe || l->ctx != gctx) {
        lrp_arena_clear(l, &l->arena);
        lrp_arena_clear(l, &l->planes);
        l->batch = 0;
        l->plane = 0;
    }
    lrp_arena_clear(l, &l->wts);
    memset(l->mw, 0, (size_t)g->n_nodes * sizeof *l->mw);
    l->be = gbe;
    l->ctx = gctx;
    const ts_backend *be = l->be;
    size_t total = 0;
    for (int i = 0; i < g->n_nodes; i++)
        total += modw_floats(&g->nodes[i], &l->rules->rule[i], l->folded_by[i] >= 0);
    if (total == 0) return TS_OK;
    TS_TRY(be->mem.arena_init(l->ctx, &l->wts, total));
    for (int i = 0; i < g->n_nodes; i++) {
        const ts_node *n = &g->nodes[i];
        const ts_lrp_rule *r = &l->rules->rule[i];
        modw *m = &l->mw[i];
        if (!modw_floats(n, r, l->folded_by[i] >= 0)) continue;
        int nw = (int)ts_tensor_numel(&n->weight);
        const float *W = n->weight.data, *B = n->bias.data;
        if (l->folded_by[i] >= 0) {
            m->fw = ts_arena_take(&l->wts, 1, 1, 1, nw).data;
            m->fb = ts_arena_take(&l->wts, 1, n->out_c, 1, 1).data;
            TS_TRY(fold_batchnorm(l, i, m->fw, m->fb));
            W = m->fw, B = m->fb;
        }
        if (r->kind == TS_LRP_ALPHABETA || r->kind == TS_LRP_ZBOX) {
            m->pos = ts_arena_take(&l->wts, 1, 1, 1, nw).data;
            m->neg = ts_arena_take(&l->wts, 1, 1, 1, nw).data;
            TS_TRY(be->lrp_split(l->ctx, W, m->pos, m->neg, (size_t)nw, NULL));
        }
        if (r->kind == TS_LRP_WSQUARE || r->kind == TS_LRP_FLAT) {
            m->sq = ts_arena_take(&l->wts, 1, 1, 1, nw).data;
            TS_TRY(be->lrp_square(l->ctx, W, m->sq, (size_t)nw, r->kind == TS_LRP_FLAT));
        }
        if (r->kind == TS_LRP_ALPHABETA && r->with_bias && B) {
            m->bpos = ts_arena_take(&l->wts, 1, n->out_c, 1, 1).data;
            m->bneg = ts_arena_take(&l->wts, 1, n->out_c, 1, 1).data;
            TS_TRY(be->lrp_split(l->ctx, B, m->bpos, m->bneg, (size_t)n->out_c, NULL));
        }
    }
    return TS_OK;
}

ts_status ts_lrp_new(ts_graph *g, const ts_lrp_rules *rules, ts_lrp **out)
{
    *out = NULL;
    if (rules->n_nodes != g->n_nodes || !rules->rule)
        return ts_error(TS_ERR_ARG, "lrp: rules were parsed for another graph");
    ts_lrp *l = calloc(1, sizeof *l);
    if (!l) return ts_error(TS_ERR_OOM, "lrp");
    l->g = g;
    l->rules = rules;
    l->rel = calloc((size_t)g->n_nodes, sizeof *l->rel);
    l->live = calloc((size_t)g->n_nodes, sizeof *l->live);
    l->mw = calloc((size_t)g->n_nodes, sizeof *l->mw);
    l->fold = calloc((size_t)g->n_nodes, sizeof *l->fold);
    l->folded_by = calloc((size_t)g->n_nodes, sizeof *l->folded_by);
    if (!l->rel || !l->live || !l->mw || !l->fold || !l->folded_by) {
        ts_lrp_free(l);
        return ts_error(TS_ERR_OOM, "lrp");
    }
    find_folds(l);
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
    lrp_arena_clear(l, &l->wts);
    lrp_arena_clear(l, &l->arena);
    lrp_arena_clear(l, &l->planes);
    free(l->mw);
    free(l->fold);
    free(l->folded_by);
    free(l->rel);
    free(l->live);
    free(l->values);
    free(l->host);
    free(l);
}

/* Relevance buffers and planes for batch n, on the backend. */
static ts_status set_batch(ts_lrp *l, int n)
{
    if (l->batch == n) return TS_OK;
    ts_graph *g = l->g;
    size_t total = 0, maxin = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ts_node *nd = &g->nodes[i];
        total += ts_arena_size_for(n, nd->c, nd->h, nd->w);
        if (is_linear(nd)) {
            const ts_node *in = &g->nodes[nd->inputs[0]];
            size_t k = ts_arena_size_for(n, in->c, in->h, in->w);
            if (k > maxin) maxin = k;
        }
    }
    lrp_arena_clear(l, &l->arena);
    lrp_arena_clear(l, &l->planes);
    l->batch = 0;
    l->plane = 0;
    TS_TRY(l->be->mem.arena_init(l->ctx, &l->arena, total));
    for (int i = 0; i < g->n_nodes; i++)
        l->rel[i] = ts_arena_take(&l->arena, n, g->nodes[i].c, g->nodes[i].h, g->nodes[i].w);
    if (maxin) TS_TRY(l->be->mem.arena_init(l->ctx, &l->planes, 2 * maxin));
    l->plane = maxin;
    l->batch = n;
    return TS_OK;
}

/* Host array of c floats (per-channel values of fill_channels). */
static float *values(ts_lrp *l, int c)
{
    if (c > l->values_cap) {
        free(l->values);
        l->values = malloc((size_t)c * sizeof(float));
        l->values_cap = l->values ? c : 0;
    }
    return l->values;
}

/* Relevance through one linear node i (conv2d or fc), or through the pair
 * of i and the batchnorm `top` folded into it: its rule as terms
 * (W'_k, x'_k) of the backend's generic step (backend.h, lrp_linear):
 *     epsilon    (W, x), Z read from the forward pass (it includes the bias)
 *     alphabeta  alpha * [(W+, x+), (W-, x-)]  -  beta * [(W-, x+), (W+, x-)]
 *                (terms with x- are dropped when the input is >= 0, the
 *                usual case behind a ReLU: they add exactly 0)
 *     flat       (1, 1)       wsquare  (W^2, 1)
 *     zbox       (W, x), (W+, -l), (W-, -h)
 * for the whole batch at once. */
static ts_status linear_node(ts_lrp *l, int i, int top)
{
    ts_graph *g = l->g;
    const ts_backend *be = l->be;
    const ts_node *nd = &g->nodes[i];
    const ts_node *in = &g->nodes[nd->inputs[0]];
    const ts_lrp_rule *r = &l->rules->rule[i];
    const modw *m = &l->mw[i];
    const int N = l->batch, C = in->c;
    const size_t xs = (size_t)N * C * in->h * in->w, hw = (size_t)in->h * in->w;
    /* top: i itself, or the batchnorm folded into it (its output is Z) */
    const float *W = m->fw ? m->fw : nd->weight.data, *x = in->out.data, *zf = g->nodes[top].out.data,
                *R = l->rel[top].data;
    float *Rin = l->rel[nd->inputs[0]].data;
    float *p0 = l->planes.base, *p1 = l->planes.base + l->plane;
    ts_lrp_term t[3];
#define LIN(nt, b, z, ue, e, coef) \
    be->lrp_linear(l->ctx, nd, N, C, in->h, in->w, t, nt, b, z, ue, e, coef, R, Rin)
    switch (r->kind) {
    case TS_LRP_EPSILON:
        t[0] = (ts_lrp_term){ W, x };
        return LIN(1, NULL, zf, true, r->eps, 1.0f);
    case TS_LRP_FLAT:
    case TS_LRP_WSQUARE: {
        float *v = values(l, C);
        if (!v) return ts_error(TS_ERR_OOM, "lrp: values for '%s'", nd->name);
        for (int c = 0; c < C; c++) v[c] = 1.0f;
        TS_TRY(be->fill_channels(l->ctx, p0, N, C, hw, v));
        t[0] = (ts_lrp_term){ m->sq, p0 };
        return LIN(1, NULL, NULL, false, 0.0f, 1.0f);
    }
    case TS_LRP_ZBOX: {
        if (l->rules->bounds_c != C)
            return ts_error(TS_ERR_ARG, "lrp: zbox on '%s' needs input bounds for %d channels (have %d)", nd->name,
                            C, l->rules->bounds_c);
        float lo[TS_LRP_MAX_INPUT_C], hi[TS_LRP_MAX_INPUT_C];
        for (int c = 0; c < C; c++) lo[c] = -l->rules->low[c], hi[c] = -l->rules->high[c];
        TS_TRY(be->fill_channels(l->ctx, p0, N, C, hw, lo));
        TS_TRY(be->fill_channels(l->ctx, p1, N, C, hw, hi));
        t[0] = (ts_lrp_term){ W, x };
        t[1] = (ts_lrp_term){ m->pos, p0 };
        t[2] = (ts_lrp_term){ m->neg, p1 };
        return LIN(3, NULL, NULL, false, 0.0f, 1.0f);
    }
    case TS_LRP_ALPHABETA: {
        bool neg = false;
        TS_TRY(be->lrp_split(l->ctx, x, p0, p1, xs, &neg));
        int nt = 0;
        if (r->alpha != 0) {
            t[nt++] = (ts_lrp_term){ m->pos, p0 };
            if (neg) t[nt++] = (ts_lrp_term){ m->neg, p1 };
            TS_TRY(LIN(nt, m->bpos, NULL, false, 0.0f, r->alpha));
        }
        if (r->beta != 0) {
            nt = 0;
            t[nt++] = (ts_lrp_term){ m->neg, p0 };
            if (neg) t[nt++] = (ts_lrp_term){ m->pos, p1 };
            TS_TRY(LIN(nt, m->bneg, NULL, false, 0.0f, -r->beta));
        }
        return TS_OK;
    }
    default:
        return ts_error(TS_ERR_ARG, "lrp: no rule for layer '%s'", nd->name);
    }
#undef LIN
}

/* The fixed rules (backend.h, relevance) for every other op. */
static ts_status fixed_node(ts_lrp *l, int i)
{
    ts_graph *g = l->g;
    ts_node *nd = &g->nodes[i];
    ts_op_args a;
    memset(&a, 0, sizeof a);
    a.node = nd;
    a.n_in = nd->n_inputs;
    for (int k = 0; k < nd->n_inputs; k++) {
        a.in[k] = &g->nodes[nd->inputs[k]].out;
        a.din[k] = &l->rel[nd->inputs[k]];
    }
    a.out = &nd->out;
    a.dout = &l->rel[i];
    a.aux = nd->aux.data ? &nd->aux : NULL;
    a.weight = nd->weight.data ? &nd->weight : NULL;
    a.bias = nd->bias.data ? &nd->bias : NULL;
    a.run_mean = nd->run_mean.data ? &nd->run_mean : NULL;
    a.run_var = nd->run_var.data ? &nd->run_var : NULL;
    return l->be->relevance(l->ctx, &a);
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
    void *gctx;
    if (l->be != ts_graph_backend(g, &gctx) || l->ctx != gctx) TS_TRY(ts_lrp_refresh(l)); /* the graph moved */
    const ts_backend *be = l->be;
    TS_TRY(set_batch(l, N));
    if (l->arena.used) TS_TRY(be->mem.zero(l->ctx, l->arena.base, l->arena.used));
    memset(l->live, 0, (size_t)g->n_nodes * sizeof *l->live);

    /* Starting relevance: the explained logit(s) of each sample, made on
     * the host from the logits and uploaded. */
    const ts_node *on = &g->nodes[g->output];
    int K = on->c * on->h * on->w;
    size_t nk = (size_t)N * K;
    if (2 * nk > l->host_cap) {
        free(l->host);
        l->host = malloc(2 * nk * sizeof(float));
        l->host_cap = l->host ? 2 * nk : 0;
        if (!l->host) return ts_error(TS_ERR_OOM, "lrp: logits of %d samples", N);
    }
    float *zh = l->host, *Rh = l->host + nk;
    TS_TRY(be->mem.download(l->ctx, zh, on->out.data, nk));
    memset(Rh, 0, nk * sizeof(float));
    for (int s = 0; s < N; s++) {
        const ts_lrp_target *t = &targets[n_targets == 1 ? 0 : s];
        const float *z = zh + (size_t)s * K;
        int a = t->a, b = t->kind == TS_LRP_TARGET_CONTRAST ? t->b : -1;
        if (t->kind == TS_LRP_TARGET_SIGNED) {
            if (a < 0 || a >= K)
                return ts_error(TS_ERR_ARG, "lrp: target output %d out of range (the model has %d outputs)", a, K);
            int sign = t->b > 0 ? 1 : t->b < 0 ? -1 : (z[a] >= 0 ? 1 : -1);
            Rh[(size_t)s * K + a] += (float)sign * z[a];
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
        float *R = Rh + (size_t)s * K;
        R[a] += z[a];
        if (b >= 0) R[b] -= z[b];
        if (stats) {
            stats[s] = (ts_lrp_stats){ .a = a, .b = b, .logit = z[a] - (b >= 0 ? z[b] : 0.0f) };
        }
    }
    TS_TRY(be->mem.upload(l->ctx, l->rel[g->output].data, Rh, nk));
    l->live[g->output] = true;

    for (int i = g->output; i >= 1; i--) {
        if (!l->live[i]) continue;
        const ts_node *nd = &g->nodes[i];
        ts_status st;
        if (l->fold[i] >= 0) { /* the batchnorm and the layer before it, as one */
            nd = &g->nodes[l->fold[i]];
            st = linear_node(l, l->fold[i], i);
        } else {
            st = is_linear(nd) ? linear_node(l, i, i) : fixed_node(l, i);
        }
        if (st != TS_OK) return ts_error_prefix(st, "lrp: layer '%s': ", g->nodes[i].name);
        for (int k = 0; k < nd->n_inputs; k++) l->live[nd->inputs[k]] = true;
    }

    TS_TRY(be->mem.download(l->ctx, relevance->data, l->rel[0].data, ts_tensor_numel(relevance)));
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
    /* the same bits on every run, and no FFT/Winograd engine whose error
     * turns an exact zero Z into 1e-7 (backend.h, set_deterministic) */
    void *ctx;
    const ts_backend *be = ts_graph_backend(g, &ctx);
    bool was = be->set_deterministic(ctx, true);
    ts_status st = ts_graph_forward(g, input);
    if (st == TS_OK) st = ts_lrp_backward(l, input, targets, n_targets, relevance, stats);
    be->set_deterministic(ctx, was);
    g->training = training;
    return st;
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
