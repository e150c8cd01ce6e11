/* test-convert.c - ONNX and Caffe import/export round trips (nn/onnx.c,
 * nn/caffe.c, nn/protobuf.c, nn/model-any.c).
 *
 * A small network with every op the engine has (conv with padding, stride
 * and groups, relu, leaky_relu, lrn, max and padded average pooling,
 * concat, add, fc, dropout), random weights and a non-default input
 * normalisation, is
 *   - exported to ONNX and imported back: logits within 1e-5, classes,
 *     trait, mean and std equal;
 *   - exported to prototxt + caffemodel + mean binaryproto and imported back
 *     (with the prototxt, without it, and through ts_model_load_any): logits
 *     within 1e-4 of the original, although the input scaling now lives in
 *     the first convolution and the channels went BGR and back;
 * and the readers are fed damage: every truncation of the caffemodel, most
 * truncations and random byte changes of the ONNX file, a missing file, an
 * unsupported Caffe layer type (PReLU) and ONNX operator (Sigmoid), which
 * must be refused with messages naming the file (and the layer type).
 * A legacy V1 prototxt (Levi & Hassner style: `layers { type: CONVOLUTION }`,
 * input_dim) is read into an architecture.  The protobuf writer/reader pair
 * is checked on varints, negatives, packed values and nesting.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/caffe.h"
#include "nn/fileio.h"
#include "backend/backend.h"
#include "nn/model.h"
#include "nn/onnx.h"
#include "nn/protobuf.h"

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

static const char arch_text[] =
    "input channels=3 size=32\n"
    "conv2d conv1 out=8 k=5 stride=2 pad=2\n"
    "relu relu1\n"
    "lrn norm1 size=3 alpha=0.001 beta=0.75 k=2\n"
    "maxpool pool1 k=3 stride=2\n"
    "conv2d b1 out=6 k=1\n"
    "conv2d b2 out=6 k=3 pad=1 groups=2 in=pool1\n"
    "leaky_relu lr2 slope=0.1\n"
    "concat cat in=b1,lr2\n"
    "conv2d c3 out=12 k=3 pad=1\n"
    "add sum in=cat,c3\n"
    "avgpool pool2 k=2 stride=2 pad=1\n"
    "fc fc1 out=16\n"
    "relu relu3\n"
    "dropout drop p=0.5\n"
    "fc fc2 out=3\n";

static char tmpdir[512];

static const char *tmp(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

/* Logits of m for input x (2,3,32,32), copied to out[6]. */
static void run(ts_model *m, const ts_tensor *x, float *out)
{
    ts_status st = ts_graph_set_batch(m->graph, x->n);
    if (st == TS_OK) st = ts_graph_forward(m->graph, x);
    if (st != TS_OK) {
        fprintf(stderr, "forward: %s\n", ts_last_error());
        exit(1);
    }
    const ts_tensor *o = &m->graph->nodes[m->graph->output].out;
    memcpy(out, o->data, ts_tensor_numel(o) * sizeof *out);
}

static float max_diff(const float *a, const float *b, int n)
{
    float d = 0;
    for (int i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

static void test_protobuf(void)
{
    ts_pbw w = { 0 };
    ts_pbw_varint(&w, 1, 300);
    ts_pbw_int(&w, 2, -5);
    size_t m = ts_pbw_begin(&w, 3);
    ts_pbw_float(&w, 1, 1.5f);
    ts_pbw_packed_floats(&w, 2, (float[]){ 1, 2, 3 }, 3);
    ts_pbw_packed_ints(&w, 3, (int64_t[]){ 1, -1, 1 << 20 }, 3);
    ts_pbw_end(&w, m);
    ts_pbw_string(&w, 4, "hello");
    CHECK(ts_pbw_status(&w) == TS_OK);
    ts_pb r, sub;
    ts_pb_init(&r, w.buf, w.len, "pb");
    ts_pb_field f;
    bool got;
    int64_t v;
    CHECK(ts_pb_next(&r, &f, &got) == TS_OK && got && f.num == 1 && f.v == 300);
    CHECK(ts_pb_next(&r, &f, &got) == TS_OK && got && ts_pb_int(&r, &f, "x", -10, 10, &v) == TS_OK && v == -5);
    CHECK(ts_pb_next(&r, &f, &got) == TS_OK && got && f.num == 3 && ts_pb_sub(&r, &f, "m", &sub) == TS_OK);
    ts_pb_floats fl = { 0 };
    ts_pb_ints in = { 0 };
    float x = 0;
    while (ts_pb_next(&sub, &f, &got) == TS_OK && got) {
        if (f.num == 1) CHECK(ts_pb_float(&sub, &f, "f", &x) == TS_OK);
        if (f.num == 2) CHECK(ts_pb_append_floats(&sub, &f, "fl", 10, &fl) == TS_OK);
        if (f.num == 3) CHECK(ts_pb_append_ints(&sub, &f, "in", 10, &in) == TS_OK);
    }
    CHECK(x == 1.5f && fl.n == 3 && fl.v[2] == 3.0f && in.n == 3 && in.v[1] == -1 && in.v[2] == 1 << 20);
    char *s = NULL;
    CHECK(ts_pb_next(&r, &f, &got) == TS_OK && got && ts_pb_string(&r, &f, "s", 100, &s) == TS_OK && !strcmp(s, "hello"));
    CHECK(ts_pb_next(&r, &f, &got) == TS_OK && !got);
    /* a length running past the end is refused with the offset */
    ts_pb_init(&r, w.buf, w.len - 1, "cut");
    ts_status st;
    while ((st = ts_pb_next(&r, &f, &got)) == TS_OK && got) {}
    CHECK(st == TS_ERR_FORMAT && strstr(ts_last_error(), "cut: offset"));
    free(s);
    free(fl.v);
    free(in.v);
    ts_pbw_clear(&w);
}

/* The import of `buf` must fail with a message naming `name`, or succeed. */
static int try_onnx(const uint8_t *buf, size_t len, bool must_fail)
{
    ts_model *m = (ts_model *)&m;
    ts_status st = ts_onnx_import_buffer(buf, len, "damaged.onnx", &m);
    if (st == TS_OK) {
        CHECK(m != NULL && !must_fail);
        ts_model_free(m);
        return 0;
    }
    CHECK(m == NULL && strstr(ts_last_error(), "damaged.onnx"));
    return 1;
}

static void test_onnx_unsupported(void)
{
    /* input (1,3,8,8) -> Sigmoid -> output */
    ts_pbw w = { 0 };
    ts_pbw_int(&w, 1, 7);
    size_t g = ts_pbw_begin(&w, 7);
    size_t n = ts_pbw_begin(&w, 1);
    ts_pbw_string(&w, 1, "x");
    ts_pbw_string(&w, 2, "y");
    ts_pbw_string(&w, 3, "squash");
    ts_pbw_string(&w, 4, "Sigmoid");
    ts_pbw_end(&w, n);
    size_t vi = ts_pbw_begin(&w, 11);
    ts_pbw_string(&w, 1, "x");
    size_t ty = ts_pbw_begin(&w, 2), tt = ts_pbw_begin(&w, 1), sh = ts_pbw_begin(&w, 2);
    for (int k = 0; k < 4; k++) {
        size_t d = ts_pbw_begin(&w, 1);
        ts_pbw_int(&w, 1, k == 0 ? 1 : k == 1 ? 3 : 8);
        ts_pbw_end(&w, d);
    }
    ts_pbw_end(&w, sh);
    ts_pbw_end(&w, tt);
    ts_pbw_end(&w, ty);
    ts_pbw_end(&w, vi);
    size_t vo = ts_pbw_begin(&w, 12);
    ts_pbw_string(&w, 1, "y");
    ts_pbw_end(&w, vo);
    ts_pbw_end(&w, g);
    ts_model *m = NULL;
    ts_status st = ts_onnx_import_buffer(w.buf, w.len, "sig.onnx", &m);
    CHECK(st == TS_ERR_UNSUPPORTED && m == NULL);
    CHECK(strstr(ts_last_error(), "sig.onnx") && strstr(ts_last_error(), "Sigmoid") && strstr(ts_last_error(), "squash"));
    ts_pbw_clear(&w);
}

static void test_prototxt(void)
{
    /* Levi & Hassner's published nets use the legacy V1 syntax. */
    static const char v1[] =
        "name: \"CaffeNet\"\n"
        "input: \"data\"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 227\ninput_dim: 227\n"
        "layers {\n  name: \"conv1\"\n  type: CONVOLUTION\n  bottom: \"data\"\n  top: \"conv1\"\n"
        "  convolution_param {\n    num_output: 96\n    kernel_size: 7\n    stride: 4\n  }\n}\n"
        "layers { name: \"relu1\" type: RELU bottom: \"conv1\" top: \"conv1\" }\n"
        "layers { name: \"pool1\" type: POOLING bottom: \"conv1\" top: \"pool1\"\n"
        "  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }\n"
        "layers { name: \"norm1\" type: LRN bottom: \"pool1\" top: \"norm1\"\n"
        "  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }\n"
        "layers { name: \"fc8\" type: INNER_PRODUCT bottom: \"norm1\" top: \"fc8\"\n"
        "  inner_product_param { num_output: 8 } }\n"
        "layers { name: \"prob\" type: SOFTMAX bottom: \"fc8\" top: \"prob\" }\n";
    char *text = NULL;
    ts_status st = ts_caffe_prototxt_to_arch(v1, strlen(v1), "v1.prototxt", &text);
    CHECK(st == TS_OK);
    if (st != TS_OK) fprintf(stderr, "%s\n", ts_last_error());
    CHECK(text && strstr(text, "input channels=3 size=227") && strstr(text, "conv2d   conv1 out=96 k=7 stride=4") &&
          strstr(text, "relu     relu1") && strstr(text, "lrn      norm1 size=5 alpha=9.99999975e-05") &&
          strstr(text, "fc       fc8 out=8") && !strstr(text, "prob"));
    free(text);

    static const char prelu[] =
        "input: \"data\"\ninput_shape { dim: 1 dim: 3 dim: 16 dim: 16 }\n"
        "layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param { num_output: 4 kernel_size: 3 } }\n"
        "layer { name: \"act\" type: \"PReLU\" bottom: \"c\" top: \"c\" }\n";
    st = ts_caffe_prototxt_to_arch(prelu, strlen(prelu), "prelu.prototxt", &text);
    if (st != TS_ERR_UNSUPPORTED) fprintf(stderr, "prelu: %s\n", ts_last_error());
    CHECK(st == TS_ERR_UNSUPPORTED && strstr(ts_last_error(), "prelu.prototxt:4") &&
          strstr(ts_last_error(), "PReLU") && strstr(ts_last_error(), "'act'"));
    static const char broken[] = "layer { name: \"c\" type: \"Convolution\" ";
    st = ts_caffe_prototxt_to_arch(broken, strlen(broken), "broken.prototxt", &text);
    CHECK(st == TS_ERR_FORMAT && strstr(ts_last_error(), "broken.prototxt"));
}

/* batchnorm layers (behind a conv and behind an fc, evaluation mode)
 * survive the safetensors and ONNX round trips: the same logits, the same
 * four vectors per layer; Caffe export refuses them by name. */
static void test_batchnorm_roundtrip(void)
{
    static const char text[] = "input channels=3 size=32\n"
                               "conv2d conv1 out=8 k=5 stride=2 pad=2\n"
                               "batchnorm bn1 eps=0.001 momentum=0.05\n"
                               "relu relu1\n"
                               "maxpool pool1 k=3 stride=2\n"
                               "fc fc1 out=16\n"
                               "batchnorm bn2\n"
                               "relu relu2\n"
                               "fc fc2 out=3\n";
    CHECK(ts_write_file_atomic(tmp("bn.arch"), text, strlen(text)) == TS_OK);
    ts_model_options o = { .in_channels = 3, .size = 32, .classes = 3, .trait = "age", .seed = 5 };
    const char *names[3] = { "young", "middle", "old" };
    o.class_names = names;
    ts_model *m = NULL;
    if (ts_model_new(tmp("bn.arch"), &o, &m) != TS_OK) {
        fprintf(stderr, "batchnorm model: %s\n", ts_last_error());
        failures++;
        return;
    }
    ts_rng rng;
    ts_rng_seed(&rng, 21);
    for (int i = 0; i < m->graph->n_nodes; i++) {
        ts_node *n = &m->graph->nodes[i];
        if (n->op != TS_OP_BATCHNORM) continue;
        for (int c = 0; c < n->weight.c; c++) {
            n->weight.data[c] = 0.5f + ts_rng_uniform(&rng);
            n->bias.data[c] = ts_rng_uniform(&rng) - 0.5f;
            n->run_mean.data[c] = ts_rng_uniform(&rng) - 0.5f;
            n->run_var.data[c] = 0.5f + ts_rng_uniform(&rng);
        }
    }
    float xdata[2 * 3 * 32 * 32];
    for (size_t k = 0; k < sizeof xdata / sizeof *xdata; k++) xdata[k] = ts_rng_normal(&rng);
    ts_tensor x = { xdata, 2, 3, 32, 32 };
    float ref[6], got[6];
    run(m, &x, ref);
    const char *files[2] = { tmp("bn.safetensors"), tmp("bn.onnx") };
    CHECK(ts_model_save(m, files[0], TS_DTYPE_F32) == TS_OK);
    CHECK(ts_onnx_export(m, files[1]) == TS_OK);
    for (int f = 0; f < 2; f++) {
        ts_model *a = NULL;
        ts_status st = ts_model_load_any(files[f], &a);
        CHECK(st == TS_OK);
        if (st != TS_OK) {
            fprintf(stderr, "%s: %s\n", files[f], ts_last_error());
            continue;
        }
        run(a, &x, got);
        fprintf(stderr, "batchnorm %s round trip: max |diff| %.3g\n", f ? "onnx" : "safetensors", max_diff(ref, got, 6));
        CHECK(max_diff(ref, got, 6) <= (f ? 1e-5f : 0.0f));
        const char *bns[2] = { "bn1", "bn2" };
        for (int k = 0; k < 2; k++) {
            const ts_node *p = ts_graph_find(m->graph, bns[k]), *q = ts_graph_find(a->graph, bns[k]);
            CHECK(q && q->op == TS_OP_BATCHNORM);
            if (!q) continue;
            size_t C = (size_t)p->weight.c;
            CHECK(q->weight.c == p->weight.c && q->bn_eps == p->bn_eps &&
                  fabsf(q->bn_momentum - p->bn_momentum) < 1e-6f);
            CHECK(!memcmp(q->weight.data, p->weight.data, C * 4) && !memcmp(q->bias.data, p->bias.data, C * 4) &&
                  !memcmp(q->run_mean.data, p->run_mean.data, C * 4) &&
                  !memcmp(q->run_var.data, p->run_var.data, C * 4));
        }
        ts_model_free(a);
    }
    ts_status st = ts_caffe_export(m, tmp("bn.caffemodel"), tmp("bn.prototxt"), NULL);
    CHECK(st == TS_ERR_UNSUPPORTED && strstr(ts_last_error(), "bn1") && strstr(ts_last_error(), "batchnorm"));
    /* folded into conv1 and fc1: the same logits without batchnorm layers,
     * the metadata kept, and then Caffe takes it */
    ts_model *f = NULL;
    int n_folded = 0;
    st = ts_model_fold_batchnorm(m, &f, &n_folded);
    CHECK(st == TS_OK && n_folded == 2);
    if (f) {
        run(f, &x, got);
        fprintf(stderr, "batchnorm folded: max |diff| %.3g\n", max_diff(ref, got, 6));
        CHECK(max_diff(ref, got, 6) <= 1e-5f);
        int left = 0;
        for (int i = 0; i < f->graph->n_nodes; i++) left += f->graph->nodes[i].op == TS_OP_BATCHNORM;
        CHECK(left == 0 && ts_graph_find(f->graph, "conv1")->bias.data != NULL);
        CHECK(f->meta.n_classes == 3 && !strcmp(f->meta.classes[2], "old") && !strcmp(f->meta.trait, "age"));
        CHECK(ts_graph_param_count(f->graph) + 4 * 8 + 4 * 16 == ts_graph_param_count(m->graph));
        CHECK(ts_caffe_export(f, tmp("bnf.caffemodel"), tmp("bnf.prototxt"), tmp("bnf.binaryproto")) == TS_OK);
        ts_model_free(f);
    }
    /* a negative running variance is a damaged model, named */
    ts_graph_find(m->graph, "bn2")->run_var.data[3] = -1.0f;
    CHECK(ts_model_save(m, tmp("bad-bn.safetensors"), TS_DTYPE_F32) == TS_OK);
    ts_model *bad = NULL;
    st = ts_model_load_any(tmp("bad-bn.safetensors"), &bad);
    CHECK(st == TS_ERR_FORMAT && bad == NULL && strstr(ts_last_error(), "bn2.running_var") &&
          strstr(ts_last_error(), "bad-bn.safetensors"));
    ts_model_free(m);
}

int main(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/test-convert-XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_protobuf();
    test_onnx_unsupported();
    test_prototxt();
    test_batchnorm_roundtrip();

    /* the model */
    CHECK(ts_write_file_atomic(tmp("net.arch"), arch_text, strlen(arch_text)) == TS_OK);
    const char *names[3] = { "young", "middle", "old" };
    ts_model_options o = { .in_channels = 3, .size = 32, .classes = 3, .class_names = names, .trait = "age", .seed = 7 };
    ts_model *m = NULL;
    if (ts_model_new(tmp("net.arch"), &o, &m) != TS_OK) {
        fprintf(stderr, "model: %s\n", ts_last_error());
        return 1;
    }
    /* biases are zero after init: give them values so they are checked too */
    ts_rng rng;
    ts_rng_seed(&rng, 3);
    for (int i = 0; i < m->graph->n_nodes; i++) {
        ts_node *n = &m->graph->nodes[i];
        for (size_t k = 0; k < ts_tensor_numel(&n->bias); k++) n->bias.data[k] = 0.1f * ts_rng_normal(&rng);
    }
    const float mean[3] = { 0.4f, 0.5f, 0.6f }, std[3] = { 0.2f, 0.25f, 0.3f };
    memcpy(m->meta.mean, mean, sizeof mean);
    memcpy(m->meta.std, std, sizeof std);
    float xdata[2 * 3 * 32 * 32];
    for (size_t k = 0; k < sizeof xdata / sizeof *xdata; k++) xdata[k] = ts_rng_normal(&rng);
    ts_tensor x = { xdata, 2, 3, 32, 32 };
    float ref[6], got[6];
    run(m, &x, ref);

    /* ONNX round trip */
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(ts_onnx_export_buffer(m, &buf, &len) == TS_OK);
    ts_model *a = NULL;
    ts_status st = ts_onnx_import_buffer(buf, len, "net.onnx", &a);
    CHECK(st == TS_OK);
    if (st != TS_OK) fprintf(stderr, "onnx import: %s\n", ts_last_error());
    if (a) {
        run(a, &x, got);
        fprintf(stderr, "onnx round trip: max |diff| %.3g\n", max_diff(ref, got, 6));
        CHECK(max_diff(ref, got, 6) <= 1e-5f);
        CHECK(a->meta.n_classes == 3 && !strcmp(a->meta.classes[2], "old") && !strcmp(a->meta.trait, "age"));
        CHECK(!memcmp(a->meta.mean, mean, sizeof mean) && !memcmp(a->meta.std, std, sizeof std));
        ts_model_free(a);
    }
    CHECK(ts_onnx_export(m, tmp("net.onnx")) == TS_OK);
    CHECK(ts_model_load_any(tmp("net.onnx"), &a) == TS_OK);
    if (a) {
        run(a, &x, got);
        CHECK(max_diff(ref, got, 6) <= 1e-5f);
        ts_model_free(a);
    }
    /* damaged ONNX: truncations inside the graph fail, byte changes never crash */
    int refused = 0;
    for (int k = 1; k <= 90; k++) refused += try_onnx(buf, len * (size_t)k / 100, true);
    CHECK(refused == 90);
    uint8_t *bad = malloc(len);
    ts_rng_seed(&rng, 11);
    for (int k = 0; k < 300; k++) {
        memcpy(bad, buf, len);
        for (int j = 0; j < 1 + k % 4; j++) bad[ts_rng_next(&rng) % len] = (uint8_t)ts_rng_next(&rng);
        try_onnx(bad, len, false);
    }
    free(bad);
    free(buf);
    st = ts_onnx_import(tmp("missing.onnx"), &a);
    CHECK(st == TS_ERR_IO && strstr(ts_last_error(), "missing.onnx") && a == NULL);

    /* Caffe round trip */
    st = ts_caffe_export(m, tmp("net.caffemodel"), tmp("net.prototxt"), tmp("net.binaryproto"));
    CHECK(st == TS_OK);
    if (st != TS_OK) fprintf(stderr, "caffe export: %s\n", ts_last_error());
    ts_caffe_options co = { .prototxt = tmp("net.prototxt"), .mean_file = tmp("net.binaryproto") };
    st = ts_caffe_import(tmp("net.caffemodel"), &co, &a);
    CHECK(st == TS_OK);
    if (st != TS_OK) fprintf(stderr, "caffe import: %s\n", ts_last_error());
    if (a) {
        /* same input tensor: the imported model's normalisation differs, so
         * compare on the pixels both see: v = x*std + mean */
        float xv[sizeof xdata / sizeof *xdata];
        for (size_t k = 0; k < sizeof xv / sizeof *xv; k++) {
            int c = (int)(k / (32 * 32)) % 3;
            float v = xdata[k] * std[c] + mean[c];
            xv[k] = (v - a->meta.mean[c]) / a->meta.std[c];
        }
        ts_tensor xa = { xv, 2, 3, 32, 32 };
        run(a, &xa, got);
        fprintf(stderr, "caffe round trip: max |diff| %.3g (logits up to %.3g)\n", max_diff(ref, got, 6),
                fmaxf(fabsf(ref[0]), fabsf(ref[1])));
        CHECK(max_diff(ref, got, 6) <= 1e-4f);
        CHECK(fabsf(a->meta.std[0] - 1.0f / 255) < 1e-9f && fabsf(a->meta.mean[2] - mean[2]) < 1e-6f);
        CHECK(a->meta.n_classes == 3 && !strcmp(a->meta.classes[0], "young") && !strcmp(a->meta.trait, "age"));
        CHECK(strstr(a->meta.training, "\"imported_from\":\"caffe\""));
        ts_model_free(a);
        /* the structure stored in the caffemodel alone gives the same net */
        ts_caffe_options co2 = { .mean_file = tmp("net.binaryproto") };
        st = ts_caffe_import(tmp("net.caffemodel"), &co2, &a);
        CHECK(st == TS_OK);
        if (a) {
            run(a, &xa, got);
            CHECK(max_diff(ref, got, 6) <= 1e-4f);
            ts_model_free(a);
        }
        /* the app's entry point finds net.prototxt and net.binaryproto */
        st = ts_model_load_any(tmp("net.caffemodel"), &a);
        CHECK(st == TS_OK);
        if (a) {
            run(a, &xa, got);
            CHECK(max_diff(ref, got, 6) <= 1e-4f);
            ts_model_free(a);
        }
    }
    /* every truncation of the caffemodel is refused (the prototxt needs all weights) */
    uint8_t *cm = NULL, *pt = NULL;
    size_t cm_len = 0, pt_len = 0;
    CHECK(ts_read_file(tmp("net.caffemodel"), 1 << 26, &cm, &cm_len) == TS_OK);
    CHECK(ts_read_file(tmp("net.prototxt"), 1 << 20, &pt, &pt_len) == TS_OK);
    refused = 0;
    int tries = 0;
    for (size_t cut = 0; cut < cm_len; cut += 1 + cut / 16, tries++) {
        st = ts_caffe_import_buffers(cm, cut, "cut.caffemodel", (const char *)pt, pt_len, "net.prototxt", NULL, 0, NULL, NULL, &a);
        if (st == TS_OK) ts_model_free(a);
        else refused += strstr(ts_last_error(), "cut.caffemodel") || strstr(ts_last_error(), "net.prototxt");
    }
    CHECK(refused == tries);
    /* truncated prototxt texts never crash */
    for (size_t cut = 0; cut < pt_len; cut += 7) {
        st = ts_caffe_import_buffers(cm, cm_len, "net.caffemodel", (const char *)pt, cut, "cut.prototxt", NULL, 0, NULL, NULL, &a);
        if (st == TS_OK) ts_model_free(a);
        else CHECK(strstr(ts_last_error(), "cut.prototxt") || strstr(ts_last_error(), "net.caffemodel"));
    }
    /* a damaged mean file */
    uint8_t junk[5] = { 0x2a, 0xff, 0xff, 0xff, 0x0f };
    float mv[3];
    st = ts_caffe_read_mean(junk, sizeof junk, "bad.binaryproto", 3, mv);
    CHECK(st == TS_ERR_FORMAT && strstr(ts_last_error(), "bad.binaryproto"));
    free(cm);
    free(pt);

    ts_model_free(m);
    const char *files[] = { "net.arch", "net.onnx", "net.caffemodel", "net.prototxt", "net.binaryproto" };
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) unlink(tmp(files[k]));
    rmdir(tmpdir);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
