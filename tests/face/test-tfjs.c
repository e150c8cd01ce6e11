/* test-tfjs.c - the TensorFlow.js weights reader (src/face/tfjs.c).
 *
 * Hand-made manifests with known values for every stored type (float32,
 * int32, bool, uint8/uint16 affine quantization, float16), multi-shard
 * groups read from files, and the refusals: short shards, unsafe shard
 * paths, duplicate names, bad shapes and dtypes, each with a message naming
 * the file and the weight.  When face-api is installed, its tiny face
 * detector manifest is read and one weight checked against the raw bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "face/model-path.h"
#include "face/tfjs.h"
#include "nn/fileio.h"

static int failures;
#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static const char *quant_json =
    "{\"weightsManifest\":[{\"paths\":[\"a.bin\"],\"weights\":["
    "{\"name\":\"q8\",\"shape\":[4],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,\"min\":-1.0}},"
    "{\"name\":\"q16\",\"shape\":[2,2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint16\",\"scale\":0.001,\"min\":0}},"
    "{\"name\":\"h\",\"shape\":[3],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"float16\"}}]},"
    "{\"paths\":[\"b.bin\",\"c.bin\"],\"weights\":["
    "{\"name\":\"i\",\"shape\":[2],\"dtype\":\"int32\"},"
    "{\"name\":\"qi\",\"shape\":[2],\"dtype\":\"int32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":2,\"min\":-3}},"
    "{\"name\":\"f\",\"shape\":[1,2],\"dtype\":\"float32\"},"
    "{\"name\":\"flag\",\"shape\":[],\"dtype\":\"bool\"}]}]}";

/* Group 0: 4 + 8 + 6 = 18 bytes; group 1: 8 + 2 + 8 + 1 = 19 bytes. */
static void quant_bins(uint8_t *b)
{
    const uint8_t g0[18] = { 0, 1, 2, 255,                     /* q8 */
                             0, 0, 0xe8, 0x03, 0xd0, 0x07, 0xff, 0xff, /* q16: 0 1000 2000 65535 */
                             0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b };      /* h: 1 -2 65504 */
    memcpy(b, g0, 18);
    int32_t iv[2] = { -7, 123456 };
    memcpy(b + 18, iv, 8); /* little-endian host assumed for the test data */
    b[26] = 0, b[27] = 5;  /* qi */
    float fv[2] = { 0.25f, -3.5f };
    memcpy(b + 28, fv, 8);
    b[36] = 1; /* flag */
}

static void check_values(const ts_tfjs *t)
{
    const ts_tfjs_weight *w;
    CHECK(t->n == 7, "7 weights, got %d", t->n);
    CHECK(ts_tfjs_get(t, "q8", 1, (int[]){ 4 }, &w) == TS_OK && w->data[0] == -1.0f &&
              w->data[1] == -0.5f && w->data[2] == 0.0f && w->data[3] == 126.5f,
          "uint8 dequantization");
    CHECK(ts_tfjs_get(t, "q16", 2, (int[]){ 2, 2 }, &w) == TS_OK && w->data[0] == 0.0f &&
              w->data[1] == 1.0f && w->data[2] == 2.0f && w->data[3] == (float)(65535 * 0.001),
          "uint16 dequantization");
    CHECK(ts_tfjs_get(t, "h", 1, (int[]){ 3 }, &w) == TS_OK && w->data[0] == 1.0f &&
              w->data[1] == -2.0f && w->data[2] == 65504.0f,
          "float16");
    CHECK(ts_tfjs_get(t, "i", 1, (int[]){ 2 }, &w) == TS_OK && w->data[0] == -7.0f &&
              w->data[1] == 123456.0f, "int32");
    CHECK(ts_tfjs_get(t, "qi", 1, (int[]){ 2 }, &w) == TS_OK && w->data[0] == -3.0f &&
              w->data[1] == 7.0f, "quantized int32");
    CHECK(ts_tfjs_get(t, "f", 2, (int[]){ 1, 2 }, &w) == TS_OK && w->data[0] == 0.25f &&
              w->data[1] == -3.5f, "float32");
    CHECK(ts_tfjs_get(t, "flag", 0, NULL, &w) == TS_OK && w->numel == 1 && w->data[0] == 1.0f,
          "bool scalar");
    CHECK(ts_tfjs_get(t, "f", 1, (int[]){ 2 }, &w) == TS_ERR_FORMAT &&
              strstr(ts_last_error(), "weight f has shape [1,2], expected [2]"),
          "shape mismatch message: %s", ts_last_error());
    CHECK(ts_tfjs_get(t, "nope", 1, (int[]){ 2 }, &w) == TS_ERR_FORMAT &&
              strstr(ts_last_error(), "nope"), "missing weight message");
}

static ts_status parse(const char *json, const uint8_t *b, size_t n, ts_tfjs **t)
{
    return ts_tfjs_parse(json, strlen(json), b, n, "mem.json", t);
}

static void expect_refusal(const char *json, size_t bins, const char *needle)
{
    uint8_t b[64] = { 0 };
    ts_tfjs *t = NULL;
    ts_status st = parse(json, b, bins, &t);
    CHECK(st != TS_OK && !t && strstr(ts_last_error(), "mem.json") &&
              strstr(ts_last_error(), needle),
          "refusal of %s: status %d, message '%s' should name '%s'", json, st, ts_last_error(),
          needle);
    ts_tfjs_free(t);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    CHECK(ts_write_file_atomic(p, data, len) == TS_OK, "write %s: %s", p, ts_last_error());
}

int main(void)
{
    uint8_t b[37];
    quant_bins(b);

    /* In memory. */
    ts_tfjs *t = NULL;
    CHECK(parse(quant_json, b, sizeof b, &t) == TS_OK, "parse: %s", ts_last_error());
    if (t) check_values(t);
    ts_tfjs_free(t);
    t = NULL;

    /* From files: group 1 split over two shards at an odd byte. */
    char dir[] = "/tmp/test-tfjs-XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    write_file(dir, "m.json", quant_json, strlen(quant_json));
    write_file(dir, "a.bin", b, 18);
    write_file(dir, "b.bin", b + 18, 5);
    write_file(dir, "c.bin", b + 23, 14);
    char mp[1024];
    snprintf(mp, sizeof mp, "%s/m.json", dir);
    CHECK(ts_tfjs_load(mp, &t) == TS_OK, "load: %s", ts_last_error());
    if (t) check_values(t);
    ts_tfjs_free(t);
    t = NULL;

    /* A short shard: the group ends before its last weight. */
    write_file(dir, "c.bin", b + 23, 13);
    CHECK(ts_tfjs_load(mp, &t) == TS_ERR_FORMAT && strstr(ts_last_error(), "m.json") &&
              strstr(ts_last_error(), "flag"),
          "short shard: %s", ts_last_error());
    ts_tfjs_free(t);
    t = NULL;
    /* A missing shard names the manifest and the shard. */
    char cp[1024];
    snprintf(cp, sizeof cp, "%s/c.bin", dir);
    unlink(cp);
    CHECK(ts_tfjs_load(mp, &t) == TS_ERR_IO && strstr(ts_last_error(), "m.json") &&
              strstr(ts_last_error(), "c.bin"), "missing shard: %s", ts_last_error());
    const char *escape = "[{\"paths\":[\"../a.bin\"],\"weights\":[]}]";
    write_file(dir, "m.json", escape, strlen(escape));
    CHECK(ts_tfjs_load(mp, &t) == TS_ERR_FORMAT && strstr(ts_last_error(), "inside"),
          "shard path escaping the folder: %s", ts_last_error());
    const char *abs_path = "[{\"paths\":[\"/etc/passwd\"],\"weights\":[]}]";
    write_file(dir, "m.json", abs_path, strlen(abs_path));
    CHECK(ts_tfjs_load(mp, &t) == TS_ERR_FORMAT, "absolute shard path accepted");
    const char *names[] = { "m.json", "a.bin", "b.bin" };
    for (int i = 0; i < 3; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);

    /* Refusals in memory. */
    expect_refusal("{", 0, "not valid JSON");
    expect_refusal("{\"a\":1}", 0, "not a weights manifest");
    expect_refusal("[{\"paths\":[],\"weights\":[{\"name\":\"w\",\"shape\":[5],\"dtype\":\"float32\"}]}]",
                   16, "weight w: needs 20 bytes");
    expect_refusal("[{\"paths\":[],\"weights\":[{\"name\":\"w\",\"shape\":[1],\"dtype\":\"float32\"},"
                   "{\"name\":\"w\",\"shape\":[1],\"dtype\":\"float32\"}]}]", 8, "appears twice");
    expect_refusal("[{\"paths\":[],\"weights\":[{\"name\":\"w\",\"shape\":[-1],\"dtype\":\"float32\"}]}]",
                   8, "shape[0]");
    expect_refusal("[{\"paths\":[],\"weights\":[{\"name\":\"w\",\"shape\":[1.5],\"dtype\":\"float32\"}]}]",
                   8, "shape[0]");
    expect_refusal("[{\"paths\":[],\"weights\":[{\"name\":\"w\",\"shape\":[2147483647,2147483647,2147483647],"
                   "\"dtype\":\"float32\"}]}]", 8, "too large");
    expect_refusal("[{\"paths\":[],\"weights\":[{\"name\":\"s\",\"shape\":[1],\"dtype\":\"string\"}]}]",
                   8, "dtype \"string\"");
    expect_refusal("[{\"paths\":[],\"weights\":[{\"name\":\"q\",\"shape\":[1],\"dtype\":\"float32\","
                   "\"quantization\":{\"dtype\":\"uint8\",\"scale\":1}}]}]", 8, "\"min\"");
    expect_refusal("[{\"paths\":[],\"weights\":[{\"name\":\"q\",\"shape\":[1],\"dtype\":\"int32\","
                   "\"quantization\":{\"dtype\":\"float16\"}}]}]", 8, "float16");
    expect_refusal("[{\"paths\":[],\"weights\":[{\"shape\":[1],\"dtype\":\"float32\"}]}]", 8, "\"name\"");
    expect_refusal("[{\"paths\":[]}]", 8, "no \"weights\"");

    /* Half floats: subnormal, infinity, NaN. */
    CHECK(ts_tfjs_half_to_float(0x0001) == ldexpf(1.0f, -24), "half subnormal");
    CHECK(isinf(ts_tfjs_half_to_float(0xfc00)) && ts_tfjs_half_to_float(0xfc00) < 0, "half -inf");
    CHECK(isnan(ts_tfjs_half_to_float(0x7e00)), "half NaN");
    CHECK(ts_tfjs_half_to_float(0x3555) == 0.333251953125f, "half 1/3");

    /* The real thing, when installed: conv0/filters of the tiny face
     * detector, first value = first byte * scale + min from the manifest. */
    char path[4096];
    if (ts_model_path_find("tiny_face_detector_model-weights_manifest.json", "npm", path,
                           sizeof path) == TS_OK) {
        CHECK(ts_tfjs_load(path, &t) == TS_OK, "%s", ts_last_error());
        const ts_tfjs_weight *w = NULL;
        if (t) {
            CHECK(t->n == 19, "tiny face detector has 19 weights, got %d", t->n);
            CHECK(ts_tfjs_get(t, "conv0/filters", 4, (int[]){ 3, 3, 3, 16 }, &w) == TS_OK, "%s",
                  ts_last_error());
        }
        char bin[4096];
        uint8_t *raw = NULL;
        size_t len = 0;
        snprintf(bin, sizeof bin, "%.*s/tiny_face_detector_model.bin",
                 (int)(strrchr(path, '/') - path), path);
        if (w && ts_read_file(bin, 1 << 24, &raw, &len) == TS_OK && len > 0) {
            float want = (float)(raw[0] * 0.009007044399485869 - 1.2069439495311063);
            CHECK(w->data[0] == want, "conv0/filters[0] = %.9g, want %.9g", (double)w->data[0],
                  (double)want);
        }
        free(raw);
        ts_tfjs_free(t);
    } else {
        printf("note: face-api not installed, real manifest not checked\n");
    }
    return failures ? 1 : 0;
}
