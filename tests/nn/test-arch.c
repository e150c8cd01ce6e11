/* test-arch.c - the architecture language: built-in networks get the shapes
 * their papers give, custom descriptions (graphs with concat/add) parse, and
 * bad descriptions are refused with the line and token named. */
#include <stdio.h>
#include <string.h>

#include "nn/arch.h"

static int failures;
#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                    \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
        }                                                                  \
    } while (0)

static void expect_shape(ts_graph *g, const char *layer, int c, int h, int w)
{
    ts_node *n = ts_graph_find(g, layer);
    CHECK(n != NULL, "layer %s missing", layer);
    if (!n) return;
    CHECK(n->c == c && n->h == h && n->w == w, "%s: got (%d,%d,%d), want (%d,%d,%d)", layer, n->c,
          n->h, n->w, c, h, w);
}

static void expect_error(const char *text, const char *needle)
{
    ts_graph *g = NULL;
    ts_status st = ts_arch_parse(text, "test.arch", &g);
    CHECK(st == TS_ERR_FORMAT, "accepted a bad description (wanted an error with '%s')", needle);
    CHECK(g == NULL, "graph returned on error");
    CHECK(strstr(ts_last_error(), needle) != NULL, "error '%s' lacks '%s'", ts_last_error(), needle);
    ts_graph_free(g);
}

int main(void)
{
    ts_graph *g;
    char *text;
    ts_arch_opts lacnn = { 4, 150, 2 };

    /* AlexNet at 150x150 (LACNN paper): 35 -> 17 -> 8 -> 4 */
    CHECK(ts_arch_build("alexnet", &lacnn, &g, &text) == TS_OK, "alexnet: %s", ts_last_error());
    expect_shape(g, "data", 4, 150, 150);
    expect_shape(g, "conv1", 96, 35, 35);
    expect_shape(g, "pool1", 96, 17, 17);
    expect_shape(g, "pool2", 256, 8, 8);
    expect_shape(g, "pool5", 256, 4, 4);
    expect_shape(g, "fc8", 2, 1, 1);
    CHECK(ts_graph_find(g, "conv1")->weight.c == 4, "conv1 weight should see 4 input channels");
    CHECK(ts_graph_find(g, "conv2")->weight.c == 48, "conv2 groups=2: 48 channels per group");
    CHECK(ts_graph_find(g, "fc6")->weight.c == 4096, "fc6 input 256*4*4");
    CHECK(strstr(text, "channels=4") && !strchr(text, '{'), "expanded text keeps no placeholder");
    /* The expanded text reparses to the same graph (what checkpoints rely on). */
    ts_graph *g2;
    CHECK(ts_arch_parse(text, "expanded", &g2) == TS_OK, "reparse: %s", ts_last_error());
    CHECK(g2 && g2->n_nodes == g->n_nodes && ts_graph_param_count(g2) == ts_graph_param_count(g),
          "reparsed graph differs");
    ts_graph_free(g2);
    free(text);
    ts_graph_free(g);

    /* CaffeNet at 227: the classic 55 -> 27 -> 13 -> 6, 60,965,224 params with 1000 classes */
    ts_arch_opts imagenet = { 3, 227, 1000 };
    CHECK(ts_arch_build("caffenet", &imagenet, &g, NULL) == TS_OK, "caffenet: %s", ts_last_error());
    expect_shape(g, "conv1", 96, 55, 55);
    expect_shape(g, "pool1", 96, 27, 27);
    expect_shape(g, "pool2", 256, 13, 13);
    expect_shape(g, "pool5", 256, 6, 6);
    CHECK(ts_graph_param_count(g) == 60965224, "caffenet params %zu", ts_graph_param_count(g));
    ts_graph_free(g);

    /* Levi & Hassner at 227: conv1 7x7/4 -> 56, pool 28, conv2 28, pool 14, conv3 14, pool 7 */
    ts_arch_opts adience = { 3, 227, 8 };
    CHECK(ts_arch_build("adiencenet", &adience, &g, NULL) == TS_OK, "adiencenet: %s", ts_last_error());
    expect_shape(g, "conv1", 96, 56, 56);
    expect_shape(g, "pool1", 96, 28, 28);
    expect_shape(g, "pool5", 384, 7, 7);
    expect_shape(g, "fc8", 8, 1, 1);
    ts_graph_free(g);

    /* VGG-16 at 224: 138,357,544 parameters with 1000 classes */
    ts_arch_opts vgg = { 3, 224, 1000 };
    CHECK(ts_arch_build("vgg16", &vgg, &g, NULL) == TS_OK, "vgg16: %s", ts_last_error());
    expect_shape(g, "pool5", 512, 7, 7);
    CHECK(ts_graph_param_count(g) == 138357544, "vgg16 params %zu", ts_graph_param_count(g));
    ts_graph_free(g);

    /* GoogLeNet at 224 (Caffe rounding): 112 56 28 14 7, 1024 channels after 5b */
    CHECK(ts_arch_build("googlenet", &vgg, &g, NULL) == TS_OK, "googlenet: %s", ts_last_error());
    expect_shape(g, "conv1/7x7_s2", 64, 112, 112);
    expect_shape(g, "pool2/3x3_s2", 192, 28, 28);
    expect_shape(g, "inception_3a/output", 256, 28, 28);
    expect_shape(g, "inception_4e/output", 832, 14, 14);
    expect_shape(g, "inception_5b/output", 1024, 7, 7);
    expect_shape(g, "pool5", 1024, 1, 1);
    ts_graph_free(g);

    /* A custom residual block with an explicit output layer. */
    const char *res =
        "input channels=3 size=8\n"
        "conv2d a out=4 k=3 pad=1\n"
        "relu ra\n"
        "conv2d b out=4 k=3 pad=1\n"
        "add sum in=ra,b\n"
        "conv2d skew in=sum out=2 k=2 stride=2 pad=1,0,0,1 bias=0\n"
        "fc logits in=sum out=3\n"
        "output logits\n";
    CHECK(ts_arch_parse(res, "residual", &g) == TS_OK, "residual: %s", ts_last_error());
    if (g) {
        expect_shape(g, "sum", 4, 8, 8);
        expect_shape(g, "skew", 2, 4, 4);
        CHECK(ts_graph_find(g, "skew")->bias.data == NULL, "bias=0 keeps no bias");
        CHECK(g->output == ts_graph_index(g, "logits"), "output line honoured");
        ts_graph_free(g);
    }

    /* Refusals name the line and the problem. */
    expect_error("conv2d c out=3 k=3\n", ":1: the first layer must be 'input");
    expect_error("input channels=3 size=8\nconv2d c out=3\n", ":2: conv2d needs k=");
    expect_error("input channels=3 size=8\n\n\nfrob x\n", ":4: unknown layer type 'frob'");
    expect_error("input channels=3 size=8\nconv2d c out=3 k=3 stride=zero\n", "stride=zero");
    expect_error("input channels=3 size=8\nrelu r in=nope\n", "no layer called 'nope'");
    expect_error("input channels=3 size=8\nconv2d c out=4 k=3 groups=2\n", "groups must divide");
    expect_error("input channels=3 size=8\nconv2d c out=4 k=9\n", "kernel larger");
    expect_error("input channels=3 size=8\nrelu r\nrelu r\n", "second layer called 'r'");
    expect_error("input channels=3 size=8\nlrn n size=4\n", "odd");
    expect_error("input channels=3 size=8\nmaxpool p k=2 colour=red\n", "'colour' is not a parameter of maxpool");
    expect_error("input channels=3 size=8\nconv2d a out=2 k=1\nconv2d b in=data out=3 k=1\nadd s in=a,b\n",
                 "inputs differ");
    expect_error("input channels=3 size=8\nbatchnorm b eps=0\n", "eps must be finite and > 0");
    expect_error("input channels=3 size=8\nbatchnorm b momentum=1.5\n", "momentum must be in [0,1]");
    expect_error("input channels=3 size=8\nbatchnorm b p=0.5\n", "'p' is not a parameter of batchnorm");

    /* batchnorm: four vectors of C (gamma, beta, running mean and variance),
     * initialised to the identity, its keys kept by the text */
    CHECK(ts_arch_parse("input channels=3 size=8\nconv2d c out=6 k=3\nbatchnorm b eps=0.001 momentum=0.25\n",
                        "bn.arch", &g) == TS_OK, "batchnorm: %s", ts_last_error());
    if (g) {
        ts_node *b = ts_graph_find(g, "b");
        CHECK(ts_graph_param_count(g) == 6 * 3 * 9 + 6 + 4 * 6, "batchnorm params %zu", ts_graph_param_count(g));
        CHECK(b->bn_eps == 0.001f && b->bn_momentum == 0.25f && b->run_var.c == 6 && b->run_mean.data &&
              b->weight.c == 6 && b->bias.c == 6, "batchnorm layer");
        ts_graph_init_params(g, 3);
        CHECK(b->weight.data[5] == 1.0f && b->bias.data[5] == 0.0f && b->run_mean.data[5] == 0.0f &&
              b->run_var.data[5] == 1.0f, "batchnorm starts as the identity");
        ts_graph_free(g);
    }
    char *x;
    CHECK(ts_arch_expand("fc f out={klasses}", &lacnn, &x) == TS_ERR_FORMAT, "unknown placeholder accepted");
    CHECK(ts_arch_build("resnet9000", &lacnn, &g, NULL) == TS_ERR_ARG, "unknown builtin accepted");
    CHECK(strstr(ts_last_error(), "alexnet"), "unknown-arch error lists the built-ins");

    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("arch: all checks passed\n");
    return 0;
}
