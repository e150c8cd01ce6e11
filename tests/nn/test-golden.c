/* test-golden.c - libtraitscope against PyTorch on a small network
 * (STYLE.md: golden tests, as llm.c checks every gradient).
 *
 * tests/nn/golden/small-net.bin is written by make-golden.py beside it (the
 * format is described there): the network's description in the arch
 * language, its input, labels, float32 weights, and PyTorch's float64
 * outputs of every layer, the loss and ALL gradients (every parameter, the
 * input, every layer's output).  We build the network from the stored
 * description, run forward in evaluation mode (dropout = identity), softmax
 * cross-entropy, backward, and require for every value
 *     |ours - ref| <= 1e-4 * (|ref| + 1e-2 * max|ref of that tensor|)
 * i.e. 1e-4 relative, with a floor at 1e-6 of the tensor's scale for
 * entries that cancel to almost zero (float32 sums of O(1) terms cannot
 * resolve those relatively).  The worst relative error of each tensor is
 * printed.
 *
 * The fixture is read as untrusted input: every length is checked.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/arch.h"
#include "backend/backend.h"
#include "nn/loss.h"

#define RTOL 1e-4
#define FLOOR 1e-2

typedef struct rec {
    char name[64];
    uint32_t kind, ndim, dims[4];
    const uint8_t *data;
    size_t bytes;
} rec;

static rec recs[128];
static int n_recs, failures;

static int rd_u32(const uint8_t *b, size_t len, size_t *off, uint32_t *v)
{
    if (len - *off < 4) return 0;
    *v = (uint32_t)b[*off] | (uint32_t)b[*off + 1] << 8 | (uint32_t)b[*off + 2] << 16 |
         (uint32_t)b[*off + 3] << 24;
    *off += 4;
    return 1;
}

static int parse(const uint8_t *b, size_t len)
{
    size_t off = 8;
    if (len < 8 || memcmp(b, "TSGOLD1\n", 8)) return printf("bad magic\n"), 0;
    while (off < len) {
        if (n_recs == (int)(sizeof recs / sizeof recs[0])) return printf("too many records\n"), 0;
        rec *r = &recs[n_recs];
        uint32_t nl;
        if (!rd_u32(b, len, &off, &nl) || nl == 0 || nl >= sizeof r->name || len - off < nl)
            return printf("record %d: bad name length at offset %zu\n", n_recs, off), 0;
        memcpy(r->name, b + off, nl);
        r->name[nl] = '\0';
        off += nl;
        if (!rd_u32(b, len, &off, &r->kind) || !rd_u32(b, len, &off, &r->ndim) || r->kind > 1 ||
            r->ndim > 4)
            return printf("%s: bad kind/ndim\n", r->name), 0;
        size_t count = 1;
        for (uint32_t i = 0; i < r->ndim; i++) {
            if (!rd_u32(b, len, &off, &r->dims[i]) || r->dims[i] > (1u << 24))
                return printf("%s: bad dims\n", r->name), 0;
            count *= r->dims[i];
        }
        size_t bytes = r->kind == 0 ? count * 4 : count;
        if (len - off < bytes) return printf("%s: payload truncated\n", r->name), 0;
        r->data = b + off;
        r->bytes = bytes;
        off += bytes;
        n_recs++;
    }
    return 1;
}

static const rec *find(const char *name)
{
    for (int i = 0; i < n_recs; i++)
        if (!strcmp(recs[i].name, name)) return &recs[i];
    return NULL;
}

/* Copies a float record into dst (numel floats); the record must have
 * exactly that many. */
static int load(const char *name, float *dst, size_t numel)
{
    const rec *r = find(name);
    if (!r || r->kind != 0 || r->bytes != numel * 4) {
        printf("FAIL fixture: %s missing or has %zu floats, want %zu\n", name, r ? r->bytes / 4 : 0, numel);
        failures++;
        return 0;
    }
    memcpy(dst, r->data, numel * 4); /* little-endian host, as the fixture */
    return 1;
}

static void compare(const char *name, const float *got, size_t numel)
{
    float *ref = malloc(numel * sizeof(float));
    if (!load(name, ref, numel)) {
        free(ref);
        return;
    }
    double scale = 0, worst = 0;
    for (size_t i = 0; i < numel; i++) scale = fmax(scale, fabs(ref[i]));
    int bad = 0;
    for (size_t i = 0; i < numel; i++) {
        double d = fabs((double)got[i] - ref[i]), lim = RTOL * (fabs(ref[i]) + FLOOR * scale);
        double rel = d / (fabs(ref[i]) + FLOOR * scale + 1e-30);
        if (rel > worst) worst = rel;
        if (!(d <= lim)) {
            if (bad < 5) printf("  %s[%zu]: ours %.8g, PyTorch %.8g\n", name, i, got[i], ref[i]);
            bad++;
        }
    }
    printf("%s %-22s %5zu values, worst error %.2e (scaled)\n", bad ? "FAIL" : "ok  ", name, numel, worst);
    if (bad) failures++;
    free(ref);
}

int main(void)
{
    const char *root = getenv("TS_SOURCE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/nn/golden/small-net.bin", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("cannot open %s (set TS_SOURCE_ROOT)\n", path);
        return 1;
    }
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (!parse(buf, len)) return 1;

    const rec *arch = find("arch");
    if (!arch || arch->kind != 1) return printf("fixture has no arch record\n"), 1;
    char *text = malloc(arch->bytes + 1);
    memcpy(text, arch->data, arch->bytes);
    text[arch->bytes] = '\0';
    ts_graph *g = NULL;
    if (ts_arch_parse(text, "small-net.bin:arch", &g) != TS_OK) {
        printf("FAIL arch: %s\n", ts_last_error());
        return 1;
    }
    free(text);
    ts_cpu_set_threads(2);

    /* Weights and biases of every parameterised layer. */
    for (int i = 1; i < g->n_nodes; i++) {
        ts_node *n = &g->nodes[i];
        char nm[96];
        if (n->weight.data) {
            snprintf(nm, sizeof nm, "%s.weight", n->name);
            load(nm, n->weight.data, ts_tensor_numel(&n->weight));
        }
        if (n->bias.data) {
            snprintf(nm, sizeof nm, "%s.bias", n->name);
            load(nm, n->bias.data, ts_tensor_numel(&n->bias));
        }
    }
    const rec *in = find("input");
    if (!in || in->ndim != 4) return printf("fixture has no 4-D input\n"), 1;
    int N = (int)in->dims[0];
    ts_tensor x = { malloc(in->bytes), N, (int)in->dims[1], (int)in->dims[2], (int)in->dims[3] };
    load("input", x.data, ts_tensor_numel(&x));
    float *lab = malloc((size_t)N * sizeof(float));
    int *labels = malloc((size_t)N * sizeof(int));
    load("labels", lab, (size_t)N);
    for (int i = 0; i < N; i++) labels[i] = (int)lab[i];
    if (failures) return 1;

    g->training = false; /* dropout is the identity, as PyTorch in eval */
    if (ts_graph_forward(g, &x) != TS_OK) {
        printf("FAIL forward: %s\n", ts_last_error());
        return 1;
    }
    ts_node *out = &g->nodes[g->output];
    float loss;
    if (ts_loss_softmax_xent(&out->out, labels, &loss, &out->dout) != TS_OK) {
        printf("FAIL loss: %s\n", ts_last_error());
        return 1;
    }
    ts_graph_zero_grads(g);
    if (ts_graph_backward(g) != TS_OK) {
        printf("FAIL backward: %s\n", ts_last_error());
        return 1;
    }

    char nm[96];
    for (int i = 1; i < g->n_nodes; i++) {
        ts_node *n = &g->nodes[i];
        snprintf(nm, sizeof nm, "%s.out", n->name);
        compare(nm, n->out.data, ts_tensor_numel(&n->out));
    }
    compare("loss", &loss, 1);
    compare("data.grad", g->nodes[0].dout.data, ts_tensor_numel(&g->nodes[0].dout));
    for (int i = 1; i < g->n_nodes; i++) {
        ts_node *n = &g->nodes[i];
        if (n->dweight.data) {
            snprintf(nm, sizeof nm, "%s.weight.grad", n->name);
            compare(nm, n->dweight.data, ts_tensor_numel(&n->dweight));
        }
        if (n->dbias.data) {
            snprintf(nm, sizeof nm, "%s.bias.grad", n->name);
            compare(nm, n->dbias.data, ts_tensor_numel(&n->dbias));
        }
        snprintf(nm, sizeof nm, "%s.out.grad", n->name);
        compare(nm, n->dout.data, ts_tensor_numel(&n->dout));
    }
    printf("%d failures\n", failures);
    ts_graph_free(g);
    free(x.data);
    free(lab);
    free(labels);
    return failures ? 1 : 0;
}
