/* arch.c - parser for the architecture description language and the
 * built-in networks; see arch.h for the grammar.
 *
 * Built-in networks, facts from their papers and reference Caffe models:
 *   alexnet    Krizhevsky et al. 2012 as used by the LACNN paper (Caffe's
 *              bvlc_alexnet layer order: conv-relu-norm-pool, groups=2 in
 *              conv2/4/5, two 4096-wide FC layers with dropout 0.5).
 *   caffenet   BVLC reference CaffeNet (pool before norm).
 *   adiencenet Levi & Hassner 2015: 96 7x7/4, 256 5x5, 384 3x3, two 512-wide
 *              FC layers with dropout 0.5.
 *   vgg16      Simonyan & Zisserman 2015, configuration D.
 *   googlenet  Szegedy et al. 2015 (Inception v1, without the auxiliary
 *              classifiers, which only matter for training the original).
 */
#include "nn/arch.h"

#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nn/fileio.h"
#include "nn/strbuf.h"

static const char alexnet_text[] =
    "# AlexNet as used by the LACNN paper (Caffe bvlc_alexnet layer order)\n"
    "input   channels={channels} size={size}\n"
    "conv2d  conv1 out=96 k=11 stride=4\n"
    "relu    relu1\n"
    "lrn     norm1 size=5 alpha=0.0001 beta=0.75 k=1\n"
    "maxpool pool1 k=3 stride=2\n"
    "conv2d  conv2 out=256 k=5 pad=2 groups=2\n"
    "relu    relu2\n"
    "lrn     norm2 size=5 alpha=0.0001 beta=0.75 k=1\n"
    "maxpool pool2 k=3 stride=2\n"
    "conv2d  conv3 out=384 k=3 pad=1\n"
    "relu    relu3\n"
    "conv2d  conv4 out=384 k=3 pad=1 groups=2\n"
    "relu    relu4\n"
    "conv2d  conv5 out=256 k=3 pad=1 groups=2\n"
    "relu    relu5\n"
    "maxpool pool5 k=3 stride=2\n"
    "fc      fc6 out=4096\n"
    "relu    relu6\n"
    "dropout drop6 p=0.5\n"
    "fc      fc7 out=4096\n"
    "relu    relu7\n"
    "dropout drop7 p=0.5\n"
    "fc      fc8 out={classes}\n";

static const char caffenet_text[] =
    "# BVLC reference CaffeNet (pooling before normalisation)\n"
    "input   channels={channels} size={size}\n"
    "conv2d  conv1 out=96 k=11 stride=4\n"
    "relu    relu1\n"
    "maxpool pool1 k=3 stride=2\n"
    "lrn     norm1 size=5 alpha=0.0001 beta=0.75 k=1\n"
    "conv2d  conv2 out=256 k=5 pad=2 groups=2\n"
    "relu    relu2\n"
    "maxpool pool2 k=3 stride=2\n"
    "lrn     norm2 size=5 alpha=0.0001 beta=0.75 k=1\n"
    "conv2d  conv3 out=384 k=3 pad=1\n"
    "relu    relu3\n"
    "conv2d  conv4 out=384 k=3 pad=1 groups=2\n"
    "relu    relu4\n"
    "conv2d  conv5 out=256 k=3 pad=1 groups=2\n"
    "relu    relu5\n"
    "maxpool pool5 k=3 stride=2\n"
    "fc      fc6 out=4096\n"
    "relu    relu6\n"
    "dropout drop6 p=0.5\n"
    "fc      fc7 out=4096\n"
    "relu    relu7\n"
    "dropout drop7 p=0.5\n"
    "fc      fc8 out={classes}\n";

static const char adiencenet_text[] =
    "# Levi & Hassner 2015, age and gender classification on Adience\n"
    "input   channels={channels} size={size}\n"
    "conv2d  conv1 out=96 k=7 stride=4\n"
    "relu    relu1\n"
    "maxpool pool1 k=3 stride=2\n"
    "lrn     norm1 size=5 alpha=0.0001 beta=0.75 k=1\n"
    "conv2d  conv2 out=256 k=5 pad=2\n"
    "relu    relu2\n"
    "maxpool pool2 k=3 stride=2\n"
    "lrn     norm2 size=5 alpha=0.0001 beta=0.75 k=1\n"
    "conv2d  conv3 out=384 k=3 pad=1\n"
    "relu    relu3\n"
    "maxpool pool5 k=3 stride=2\n"
    "fc      fc6 out=512\n"
    "relu    relu6\n"
    "dropout drop6 p=0.5\n"
    "fc      fc7 out=512\n"
    "relu    relu7\n"
    "dropout drop7 p=0.5\n"
    "fc      fc8 out={classes}\n";


static char *vgg16_text(void)
{
    static const int blocks[5][2] = { { 2, 64 }, { 2, 128 }, { 3, 256 }, { 3, 512 }, { 3, 512 } };
    ts_strbuf b = { 0 };
    ts_strbuf_printf(&b, "# VGG-16 (configuration D)\ninput channels={channels} size={size}\n");
    for (int s = 0; s < 5; s++) {
        for (int l = 1; l <= blocks[s][0]; l++) {
            ts_strbuf_printf(&b, "conv2d conv%d_%d out=%d k=3 pad=1\n", s + 1, l, blocks[s][1]);
            ts_strbuf_printf(&b, "relu relu%d_%d\n", s + 1, l);
        }
        ts_strbuf_printf(&b, "maxpool pool%d k=2 stride=2\n", s + 1);
    }
    ts_strbuf_printf(&b, "fc fc6 out=4096\nrelu relu6\ndropout drop6 p=0.5\n"
                  "fc fc7 out=4096\nrelu relu7\ndropout drop7 p=0.5\n"
                  "fc fc8 out={classes}\n");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* One Inception v1 block: 1x1 | 1x1->3x3 | 1x1->5x5 | pool->1x1, concatenated. */
static void inception(ts_strbuf *b, const char *name, const char *in, int c1, int r3, int c3, int r5,
                      int c5, int pp)
{
    ts_strbuf_printf(b, "conv2d %s/1x1 in=%s out=%d k=1\nrelu %s/relu_1x1\n", name, in, c1, name);
    ts_strbuf_printf(b, "conv2d %s/3x3_reduce in=%s out=%d k=1\nrelu %s/relu_3x3_reduce\n", name, in, r3, name);
    ts_strbuf_printf(b, "conv2d %s/3x3 out=%d k=3 pad=1\nrelu %s/relu_3x3\n", name, c3, name);
    ts_strbuf_printf(b, "conv2d %s/5x5_reduce in=%s out=%d k=1\nrelu %s/relu_5x5_reduce\n", name, in, r5, name);
    ts_strbuf_printf(b, "conv2d %s/5x5 out=%d k=5 pad=2\nrelu %s/relu_5x5\n", name, c5, name);
    ts_strbuf_printf(b, "maxpool %s/pool in=%s k=3 stride=1 pad=1\n", name, in);
    ts_strbuf_printf(b, "conv2d %s/pool_proj out=%d k=1\nrelu %s/relu_pool_proj\n", name, pp, name);
    ts_strbuf_printf(b, "concat %s/output in=%s/relu_1x1,%s/relu_3x3,%s/relu_5x5,%s/relu_pool_proj\n", name,
              name, name, name, name);
}

static char *googlenet_text(void)
{
    ts_strbuf b = { 0 };
    ts_strbuf_printf(&b, "# GoogLeNet (Inception v1), without auxiliary classifiers\n"
                  "input channels={channels} size={size}\n"
                  "conv2d conv1/7x7_s2 out=64 k=7 stride=2 pad=3\nrelu conv1/relu_7x7\n"
                  "maxpool pool1/3x3_s2 k=3 stride=2\n"
                  "lrn pool1/norm1 size=5 alpha=0.0001 beta=0.75 k=1\n"
                  "conv2d conv2/3x3_reduce out=64 k=1\nrelu conv2/relu_3x3_reduce\n"
                  "conv2d conv2/3x3 out=192 k=3 pad=1\nrelu conv2/relu_3x3\n"
                  "lrn conv2/norm2 size=5 alpha=0.0001 beta=0.75 k=1\n"
                  "maxpool pool2/3x3_s2 k=3 stride=2\n");
    inception(&b, "inception_3a", "pool2/3x3_s2", 64, 96, 128, 16, 32, 32);
    inception(&b, "inception_3b", "inception_3a/output", 128, 128, 192, 32, 96, 64);
    ts_strbuf_printf(&b, "maxpool pool3/3x3_s2 k=3 stride=2\n");
    inception(&b, "inception_4a", "pool3/3x3_s2", 192, 96, 208, 16, 48, 64);
    inception(&b, "inception_4b", "inception_4a/output", 160, 112, 224, 24, 64, 64);
    inception(&b, "inception_4c", "inception_4b/output", 128, 128, 256, 24, 64, 64);
    inception(&b, "inception_4d", "inception_4c/output", 112, 144, 288, 32, 64, 64);
    inception(&b, "inception_4e", "inception_4d/output", 256, 160, 320, 32, 128, 128);
    ts_strbuf_printf(&b, "maxpool pool4/3x3_s2 k=3 stride=2\n");
    inception(&b, "inception_5a", "pool4/3x3_s2", 256, 160, 320, 32, 128, 128);
    inception(&b, "inception_5b", "inception_5a/output", 384, 192, 384, 48, 128, 128);
    ts_strbuf_printf(&b, "avgpool pool5 global=1\ndropout pool5/drop p=0.4\n"
                  "fc loss3/classifier out={classes}\n");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

static const char *const builtin_names[] = { "alexnet", "caffenet", "adiencenet", "vgg16", "googlenet", NULL };

const char *const *ts_arch_builtin_names(void) { return builtin_names; }

char *ts_arch_builtin_text(const char *name)
{
    if (!strcmp(name, "alexnet")) return strdup(alexnet_text);
    if (!strcmp(name, "caffenet")) return strdup(caffenet_text);
    if (!strcmp(name, "adiencenet")) return strdup(adiencenet_text);
    if (!strcmp(name, "vgg16")) return vgg16_text();
    if (!strcmp(name, "googlenet")) return googlenet_text();
    return NULL;
}

ts_status ts_arch_expand(const char *text, const ts_arch_opts *o, char **out)
{
    ts_strbuf b = { 0 };
    ts_strbuf_printf(&b, "%s", "");
    for (const char *p = text; *p;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            size_t n = end ? (size_t)(end - p - 1) : 0;
            int v = -1;
            if (end && n == 8 && !strncmp(p + 1, "channels", 8)) v = o->in_channels;
            else if (end && n == 4 && !strncmp(p + 1, "size", 4)) v = o->size;
            else if (end && n == 7 && !strncmp(p + 1, "classes", 7)) v = o->classes;
            if (v >= 0) {
                ts_strbuf_printf(&b, "%d", v);
                p = end + 1;
                continue;
            }
            if (end) {
                ts_status st = ts_error(TS_ERR_FORMAT, "unknown placeholder '%.*s' (known: {channels}, {size}, {classes})",
                                        (int)(end - p + 1), p);
                free(b.s);
                return st;
            }
        }
        ts_strbuf_printf(&b, "%c", *p++);
    }
    if (b.oom) {
        free(b.s);
        return ts_error(TS_ERR_OOM, "out of memory expanding an architecture");
    }
    *out = b.s;
    return TS_OK;
}

/* ---- parser ---- */

typedef struct parser {
    const char *source;
    int line;
    ts_graph *g;
} parser;

static ts_status perr(const parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static ts_status perr(const parser *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ts_error(TS_ERR_FORMAT, "%s:%d: %s", p->source, p->line, msg);
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

/* Descriptions use '.' as the decimal point whatever the process locale. */
static bool parse_float(const char *s, float *out)
{
    static locale_t c_locale;
    if (!c_locale) c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    char *end;
    errno = 0;
    float v = c_locale ? strtof_l(s, &end, c_locale) : strtof(s, &end);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

static ts_op op_from_word(const char *w)
{
    for (int op = 1; op < TS_OP_COUNT; op++)
        if (!strcmp(w, ts_op_name((ts_op)op))) return (ts_op)op;
    return TS_OP_COUNT;
}

/* Applies key=value to node n; false with an error message on failure. */
static ts_status apply_key(parser *p, ts_node *n, char *key, char *val)
{
    int iv;
    float fv;
    ts_op op = n->op;
    bool conv = op == TS_OP_CONV2D, pool = op == TS_OP_MAXPOOL || op == TS_OP_AVGPOOL;
#define INT_KEY(name, lo, hi, field)                                                   \
    if (!strcmp(key, name)) {                                                          \
        if (!parse_int(val, lo, hi, &iv))                                              \
            return perr(p, "%s=%s: expected an integer in %d..%d", key, val, lo, hi); \
        field = iv;                                                                    \
        return TS_OK;                                                                  \
    }
#define FLOAT_KEY(name, field)                                                          \
    if (!strcmp(key, name)) {                                                           \
        if (!parse_float(val, &fv)) return perr(p, "%s=%s: expected a number", key, val); \
        field = fv;                                                                     \
        return TS_OK;                                                                   \
    }
    if (conv || op == TS_OP_FC) {
        INT_KEY("out", 1, 1 << 20, n->out_c)
        INT_KEY("bias", 0, 1, n->has_bias)
    }
    if (conv) INT_KEY("groups", 1, 65536, n->groups)
    if (conv || pool) {
        if (!strcmp(key, "k")) {
            if (!parse_int(val, 1, 4096, &iv)) return perr(p, "k=%s: expected an integer in 1..4096", val);
            n->kh = n->kw = iv;
            return TS_OK;
        }
        INT_KEY("kh", 1, 4096, n->kh)
        INT_KEY("kw", 1, 4096, n->kw)
        INT_KEY("stride", 1, 4096, n->stride)
        if (!strcmp(key, "pad")) {
            int v[4], k = 0;
            char *save = NULL;
            for (char *t = strtok_r(val, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (k == 4 || !parse_int(t, 0, 4096, &v[k]))
                    return perr(p, "pad: expected P or T,B,L,R with integers >= 0");
                k++;
            }
            if (k == 1) v[1] = v[2] = v[3] = v[0];
            else if (k != 4) return perr(p, "pad: expected P or T,B,L,R");
            n->pad_t = v[0], n->pad_b = v[1], n->pad_l = v[2], n->pad_r = v[3];
            return TS_OK;
        }
    }
    if (pool) {
        if (!strcmp(key, "round")) {
            if (!strcmp(val, "ceil")) n->pool_floor = 0;
            else if (!strcmp(val, "floor")) n->pool_floor = 1;
            else return perr(p, "round=%s: expected ceil or floor", val);
            return TS_OK;
        }
        INT_KEY("global", 0, 1, n->global)
    }
    if (op == TS_OP_LRN) {
        INT_KEY("size", 1, 1023, n->lrn_size)
        FLOAT_KEY("alpha", n->lrn_alpha)
        FLOAT_KEY("beta", n->lrn_beta)
        FLOAT_KEY("k", n->lrn_k)
    }
    if (op == TS_OP_DROPOUT) FLOAT_KEY("p", n->p)
    if (op == TS_OP_LEAKY_RELU) FLOAT_KEY("slope", n->slope)
    if (op == TS_OP_BATCHNORM) {
        FLOAT_KEY("eps", n->bn_eps)
        FLOAT_KEY("momentum", n->bn_momentum)
    }
#undef INT_KEY
#undef FLOAT_KEY
    return perr(p, "'%s' is not a parameter of %s", key, ts_op_name(op));
}

static ts_status parse_line(parser *p, char *line, ts_graph **gp, int *output)
{
    char *save = NULL;
    char *word = strtok_r(line, " \t\r", &save);
    if (!word) return TS_OK;
    if (!strcmp(word, "input")) {
        if (*gp) return perr(p, "a second input line");
        int c = 0, h = 0, w = 0;
        for (char *t; (t = strtok_r(NULL, " \t\r", &save));) {
            char *eq = strchr(t, '=');
            if (!eq) return perr(p, "'%s': expected key=value", t);
            *eq = '\0';
            int v;
            if (!parse_int(eq + 1, 1, 8192, &v)) return perr(p, "%s=%s: expected an integer in 1..8192", t, eq + 1);
            if (!strcmp(t, "channels")) c = v;
            else if (!strcmp(t, "size")) h = w = v;
            else if (!strcmp(t, "height")) h = v;
            else if (!strcmp(t, "width")) w = v;
            else return perr(p, "'%s' is not a parameter of input", t);
        }
        if (!c || !h || !w) return perr(p, "input needs channels= and size= (or height= and width=)");
        *gp = ts_graph_new(c, h, w);
        return TS_OK;
    }
    if (!*gp) return perr(p, "the first layer must be 'input channels=C size=S'");
    ts_graph *g = *gp;
    if (!strcmp(word, "output")) {
        char *name = strtok_r(NULL, " \t\r", &save);
        if (!name || strtok_r(NULL, " \t\r", &save)) return perr(p, "expected 'output NAME'");
        int i = ts_graph_index(g, name);
        if (i < 1) return perr(p, "output: no layer called '%s' before this line", name);
        *output = i;
        return TS_OK;
    }
    ts_op op = op_from_word(word);
    if (op == TS_OP_COUNT)
        return perr(p, "unknown layer type '%s' (known: conv2d relu leaky_relu lrn maxpool avgpool fc dropout concat add batchnorm)", word);
    char *name = strtok_r(NULL, " \t\r", &save);
    if (!name || strchr(name, '=')) return perr(p, "%s needs a layer name", word);
    if (strlen(name) >= TS_NAME_MAX) return perr(p, "layer name '%s' longer than %d characters", name, TS_NAME_MAX - 1);
    if (ts_graph_index(g, name) >= 0) return perr(p, "a second layer called '%s'", name);

    char *kv[64];
    int n_kv = 0, inputs[TS_MAX_INPUTS], n_in = 0;
    for (char *t; (t = strtok_r(NULL, " \t\r", &save));) {
        if (!strchr(t, '=')) return perr(p, "'%s': expected key=value", t);
        if (!strncmp(t, "in=", 3)) {
            char *s2 = NULL;
            for (char *nm = strtok_r(t + 3, ",", &s2); nm; nm = strtok_r(NULL, ",", &s2)) {
                int i = ts_graph_index(g, nm);
                if (i < 0) return perr(p, "in: no layer called '%s' before this line", nm);
                if (n_in == TS_MAX_INPUTS) return perr(p, "in: more than %d inputs", TS_MAX_INPUTS);
                inputs[n_in++] = i;
            }
            continue;
        }
        if (n_kv == 64) return perr(p, "too many parameters");
        kv[n_kv++] = t;
    }
    if ((op == TS_OP_CONCAT || op == TS_OP_ADD) && n_in < 2) return perr(p, "%s needs in=A,B[,...]", word);
    if (op != TS_OP_CONCAT && op != TS_OP_ADD && n_in > 1) return perr(p, "%s takes one input", word);
    ts_node *n = ts_graph_add(g, op, name, n_in, inputs);
    for (int k = 0; k < n_kv; k++) {
        char *eq = strchr(kv[k], '=');
        *eq = '\0';
        TS_TRY(apply_key(p, n, kv[k], eq + 1));
    }
    if ((op == TS_OP_CONV2D || op == TS_OP_FC) && n->out_c == 0) return perr(p, "%s needs out=N", word);
    if (op == TS_OP_CONV2D && n->kh == 0) return perr(p, "conv2d needs k=K (or kh=, kw=)");
    if ((op == TS_OP_MAXPOOL || op == TS_OP_AVGPOOL) && !n->global && n->kh == 0)
        return perr(p, "%s needs k=K or global=1", word);
    return TS_OK;
}

/* Parses text into *out: finalized (parameters allocated) when
 * param_floats is NULL, else only shaped, with the parameter count. */
static ts_status parse_text(const char *text, const char *source, size_t *param_floats, ts_graph **out)
{
    *out = NULL;
    char *copy = strdup(text);
    if (!copy) return ts_error(TS_ERR_OOM, "out of memory");
    parser p = { source ? source : "architecture", 0, NULL };
    ts_graph *g = NULL;
    int output = -1;
    ts_status st = TS_OK;
    char *save = NULL;
    /* strtok_r would merge empty lines and break line numbers: split by hand. */
    for (char *line = copy, *next; line && st == TS_OK; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        p.line++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        st = parse_line(&p, line, &g, &output);
    }
    (void)save;
    free(copy);
    if (st == TS_OK && !g) st = ts_error(TS_ERR_FORMAT, "%s: no 'input' line", p.source);
    if (st == TS_OK) {
        if (output > 0) g->output = output;
        st = param_floats ? ts_graph_shape(g, param_floats) : ts_graph_finalize(g);
        if (st != TS_OK) ts_error_prefix(st, "%s: ", p.source);
    }
    if (st != TS_OK) {
        ts_graph_free(g);
        return st;
    }
    *out = g;
    return TS_OK;
}

ts_status ts_arch_parse(const char *text, const char *source, ts_graph **out)
{
    return parse_text(text, source, NULL, out);
}

ts_status ts_arch_param_count(const char *text, const char *source, size_t *out)
{
    ts_graph *g = NULL;
    *out = 0;
    TS_TRY(parse_text(text, source, out, &g));
    ts_graph_free(g);
    return TS_OK;
}

ts_status ts_arch_build(const char *name_or_path, const ts_arch_opts *opts, ts_graph **graph,
                        char **expanded)
{
    *graph = NULL;
    if (expanded) *expanded = NULL;
    if (opts->in_channels < 1 || opts->size < 1 || opts->classes < 1)
        return ts_error(TS_ERR_ARG, "channels, size and classes must be >= 1");
    char *tmpl = ts_arch_builtin_text(name_or_path);
    if (!tmpl) {
        uint8_t *data;
        size_t len;
        if (!strchr(name_or_path, '/') && !strchr(name_or_path, '.'))
            return ts_error(TS_ERR_ARG, "unknown architecture '%s' (built-in: alexnet, caffenet, adiencenet, vgg16, googlenet; or a description file)",
                            name_or_path);
        TS_TRY(ts_read_file(name_or_path, 1 << 20, &data, &len));
        tmpl = malloc(len + 1);
        TS_ASSERT(tmpl);
        memcpy(tmpl, data, len);
        tmpl[len] = '\0';
        free(data);
        if (strlen(tmpl) != len) {
            free(tmpl);
            return ts_error(TS_ERR_FORMAT, "%s: contains a NUL byte; not a text description", name_or_path);
        }
    }
    char *text;
    ts_status st = ts_arch_expand(tmpl, opts, &text);
    free(tmpl);
    if (st != TS_OK) return ts_error_prefix(st, "%s: ", name_or_path);
    st = ts_arch_parse(text, name_or_path, graph);
    if (st != TS_OK || !expanded) free(text);
    else *expanded = text;
    return st;
}
