/* test-cli-explain.c - the explain, activations and flip commands end to
 * end, through the built traitscope-cli, on tiny models (tests/nn/tiny.arch)
 * made with `init` and synthetic face crops (no shared data needed).
 *
 * Checks the JSON contract of `explain --json` (fields, conservation near 1
 * for a conservative rule string, 68 regions and the parts with
 * landmarks, the A(x,y) share of a 4-channel model), the .npy and PNG
 * outputs, the tEXt rule string in the PNG, and clear errors for a bad rule
 * string, an unknown layer, a missing landmark source, a bad target.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/fileio.h"
#include "face/image.h"

static int failures;
static char cli[4096], dir[4096];

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);            \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

/* Runs `traitscope-cli ARGS`, stdout into *out (malloc'd), stderr into
 * *err; returns the exit status. */
static int run(const char *args, char **out, char **err)
{
    char cmd[16384], o[4200], e[4200];
    snprintf(o, sizeof o, "%s/stdout", dir);
    snprintf(e, sizeof e, "%s/stderr", dir);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s' 2>'%s'", dir, cli, args, o, e);
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    size_t n;
    uint8_t *b;
    if (out) *out = ts_read_file(o, 64 << 20, &b, &n) == TS_OK ? (char *)realloc(b, n + 1) : NULL;
    if (out && *out) (*out)[n] = '\0';
    if (err) *err = ts_read_file(e, 1 << 20, &b, &n) == TS_OK ? (char *)realloc(b, n + 1) : NULL;
    if (err && *err) (*err)[n] = '\0';
    return rc;
}

static void face(const char *name, int seed)
{
    ts_image img;
    TS_ASSERT(ts_image_init(&img, 64, 64) == TS_OK);
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *p = ts_image_pixel(&img, x, y);
            int d = (x - 32) * (x - 32) + (y - 30) * (y - 30);
            p[0] = (uint8_t)(d < 600 ? 200 : 40 + (x * 3 + seed) % 50);
            p[1] = (uint8_t)(d < 600 ? 150 - y : 60);
            p[2] = (uint8_t)((x * y + seed * 17) % 256);
        }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    TS_ASSERT(ts_image_save_png(path, &img) == TS_OK);
    ts_image_clear(&img);
}

/* 68 points on an ellipse-ish face layout. */
static void landmarks(const char *name)
{
    char path[4200], buf[8192];
    size_t used = (size_t)snprintf(buf, sizeof buf, "{\"method\":\"test\",\"landmarks\":[");
    for (int k = 0; k < 68; k++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s[%.2f,%.2f]", k ? "," : "",
                                 32 + 22 * cos(k * 0.0924), 32 + 26 * sin(k * 0.0924) * (k % 2 ? 0.5 : 1));
    used += (size_t)snprintf(buf + used, sizeof buf - used, "]}\n");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    TS_ASSERT(ts_write_file_atomic(path, buf, used) == TS_OK);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int main(void)
{
    const char *build = getenv("TS_BUILD_ROOT"), *src = getenv("TS_SOURCE_ROOT");
    if (!build || !src) {
        fprintf(stderr, "TS_BUILD_ROOT / TS_SOURCE_ROOT not set (run through meson test)\n");
        return 77;
    }
    snprintf(cli, sizeof cli, "%s/src/cli/traitscope-cli", build);
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "%s not built\n", cli);
        return 77;
    }
    snprintf(dir, sizeof dir, "/tmp/ts-explain-cli-XXXXXX");
    TS_ASSERT(mkdtemp(dir));
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args,
             "init --arch '%s/tests/nn/tiny.arch' --size 32 --class-names female,male --out m3.safetensors",
             src);
    int rc = run(args, NULL, &err);
    CHECK(rc == 0, "init 3: %s", err);
    free(err);
    snprintf(args, sizeof args,
             "init --arch '%s/tests/nn/tiny.arch' --size 32 --in-channels 4 --out m4.safetensors", src);
    rc = run(args, NULL, &err);
    CHECK(rc == 0, "init 4: %s", err);
    free(err);
    face("a.png", 1);
    face("b.png", 2);
    landmarks("a.json");

    /* explain, JSON contract; lrp0 with tiny epsilon conserves exactly
     * up to the biases, which init leaves at zero */
    rc = run("explain --model m3.safetensors a.png --rules 'preset=lrp0' --target male --json --out h.png "
             "--relevance r.npy --landmarks a.json", &out, &err);
    CHECK(rc == 0, "explain: %s", err);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    CHECK(j, "explain JSON: %s", out ? out : "(none)");
    if (j) {
        CHECK(!strcmp(cJSON_GetObjectItem(j, "target")->valuestring, "male") &&
                  num(j, "target_index") == 1, "target");
        CHECK(fabs(num(j, "conservation") - 1) < 1e-3, "conservation %g", num(j, "conservation"));
        CHECK(num(j, "negative_share") >= 0 && num(j, "negative_share") <= 1, "negative share");
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "channels")) == 3, "channels");
        CHECK(fabs(num(j, "rgb_abs_share") - 1) < 1e-9, "rgb share %g", num(j, "rgb_abs_share"));
        cJSON *rg = cJSON_GetObjectItem(j, "regions");
        CHECK(cJSON_GetArraySize(rg) == 68, "68 regions");
        double total = 0;
        for (int k = 0; k < cJSON_GetArraySize(rg); k++) total += num(cJSON_GetArrayItem(rg, k), "abs_share");
        CHECK(fabs(total - 1) < 1e-6, "region abs shares sum to %g", total);
        CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "parts"), "mouth"), "parts.mouth");
        CHECK(strstr(cJSON_GetObjectItem(j, "rules_applied")->valuestring, "conv1=lrp0"), "rules_applied");
    }
    cJSON_Delete(j);
    free(out);
    free(err);
    char path[4200];
    uint8_t *b = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/r.npy", dir);
    CHECK(ts_read_file(path, 1 << 20, &b, &n) == TS_OK && n == 128 + 3 * 32 * 32 * 4 && !memcmp(b, "\x93NUMPY", 6) &&
              strstr((char *)b + 10, "'shape': (1, 3, 32, 32)"), "npy header/size (%zu bytes)", n);
    free(b);
    snprintf(path, sizeof path, "%s/h.png", dir);
    CHECK(ts_read_file(path, 1 << 20, &b, &n) == TS_OK && memmem(b, n, "traitscope:lrp-rules\0preset=lrp0", 32),
          "PNG carries the rule string");
    free(b);

    /* 4-channel: landmarks are needed and the A(x,y) share is reported */
    rc = run("explain --model m4.safetensors a.png --json --landmarks a.json", &out, &err);
    CHECK(rc == 0, "explain 4ch: %s", err);
    j = out ? cJSON_Parse(out) : NULL;
    CHECK(j && num(j, "amap_abs_share") >= 0 && num(j, "amap_abs_share") <= 1 &&
              cJSON_GetArraySize(cJSON_GetObjectItem(j, "channels")) == 4, "4-channel JSON");
    cJSON_Delete(j);
    free(out);
    free(err);
    rc = run("explain --model m4.safetensors a.png --json --landmarks missing.json", NULL, &err);
    CHECK(rc == 1 && err && strstr(err, "missing.json"), "missing landmarks: %s", err);
    free(err);

    /* errors */
    rc = run("explain --model m3.safetensors a.png --json --rules 'conv1=zbox;conv2a=alphabeta:3'", NULL, &err);
    CHECK(rc == 1 && err && strstr(err, "item 2 'conv2a=alphabeta:3'"), "bad rule string: %s", err);
    free(err);
    rc = run("explain --model m3.safetensors a.png --json --target cat", NULL, &err);
    CHECK(rc == 1 && err && strstr(err, "'cat'"), "bad target: %s", err);
    free(err);
    rc = run("explain --model m3.safetensors a.png", NULL, &err);
    CHECK(rc == 2, "nothing to write is a usage error");
    free(err);
    rc = run("activations --model m3.safetensors a.png --layer conv7 --out g.png", NULL, &err);
    CHECK(rc == 1 && err && strstr(err, "unknown layer 'conv7'") && strstr(err, "conv2b"), "bad layer: %s", err);
    free(err);
    rc = run("activations --model m3.safetensors a.png --out g.png --filters f.png", &out, &err);
    CHECK(rc == 0 && out && strstr(out, "4 maps of layer 'conv1'"), "activations: %s %s", out, err);
    free(out);
    free(err);

    /* flip on a folder of two images */
    snprintf(args, sizeof args, "flip --model m3.safetensors --data 'folder:%s' --limit 2 --steps 5 --json", dir);
    rc = run(args, &out, &err);
    CHECK(rc == 0, "flip: %s", err);
    j = out ? cJSON_Parse(out) : NULL;
    CHECK(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "images")) == 2 && num(j, "steps") == 5 &&
              cJSON_GetArraySize(cJSON_GetObjectItem(j, "curve_morf")) == 6 && isfinite(num(j, "aopc_morf")),
          "flip JSON: %s", out ? out : "(none)");
    cJSON_Delete(j);
    free(out);
    free(err);

    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    if (system(args) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("cli explain/activations/flip: all checks passed\n");
    return failures ? 1 : 0;
}
