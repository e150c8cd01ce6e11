/* test-shard.c - batch jobs in shards (issue 17, cli/shard.h): a command
 * run as N shards (--shard K/N, or --shard slurm under a job array) and
 * put back together by `traitscope-cli merge` prints exactly what one
 * unsharded run prints.  With the bundled models (resources/models) on
 * real CelebA-HQ faces:
 *   - eval: 4 shards of 150 images (uneven blocks); the merged JSON equals
 *     the unsharded JSON byte for byte, and the shards' --per-image files
 *     concatenated in shard order equal the unsharded file;
 *   - explain --data (LACNN model: per-part tables from landmarks), 3
 *     shards of 7 images: byte for byte;
 *   - flip, 2 shards: byte for byte (the means are sums in row order);
 *   - figure, 2 shards: the stacked bands are the unsharded PNG pixel for
 *     pixel, and the merged sidecar is the unsharded sidecar;
 *   - --shard slurm with SLURM_ARRAY_TASK_ID/COUNT/MIN set is --shard K/N;
 *   - merge refuses a missing shard, a shard given twice and shards of
 *     different runs, naming the file; --shard 3/3 is a usage error.
 * The shards are given to merge out of order: the "shard" blocks order
 * them.  Exit 77 without the data or dlib's landmark model; without
 * face-api's detector (npm ci) the parts on raw images (explain, flip,
 * figure: the bundled models align every face by its landmarks) are
 * skipped, the rest runs, and the exit is 77 unless something failed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "face/detector.h"
#include "face/image.h"
#include "face/model-path.h"
#include "nn/fileio.h"

static int failures;
#define CHECK(c)                                                            \
    do {                                                                    \
        if (!(c)) {                                                         \
            fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__, __LINE__, #c);    \
            failures++;                                                     \
        }                                                                   \
    } while (0)

static char cli[4200], data_spec[4200], baseline[4200], lacnn[4200], images_dir[4200], dir[64], cache[256];

/* Runs `cmd` through the shell; exit status (-1 when it did not run). */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *buf;
    if (ts_read_file(path, (size_t)1 << 28, &buf, len) != TS_OK) return NULL;
    return (char *)buf;
}

/* Files a and b (in dir) have the same bytes. */
static bool same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    bool same = x && y && la == lb && la > 0 && memcmp(x, y, la) == 0;
    if (!same) fprintf(stderr, "%s and %s differ (%zu and %zu bytes)\n", a, b, x ? la : 0, y ? lb : 0);
    free(x);
    free(y);
    return same;
}

static void test_eval(void)
{
    const char *common = "--data '%s' --split all --limit 150 --batch 16 --cache '%s' --device cpu";
    char args[8192];
    snprintf(args, sizeof args, common, data_spec, cache);
    CHECK(sh("cd '%s' && '%s' eval --model '%s' %s --json --per-image all.jsonl > all.json 2>/dev/null", dir, cli,
             baseline, args) == 0);
    for (int k = 0; k < 4; k++)
        CHECK(sh("cd '%s' && '%s' eval --model '%s' %s --shard %d/4 --per-image part%d.jsonl > part%d.json "
                 "2>/dev/null",
                 dir, cli, baseline, args, k, k, k) == 0);
    CHECK(sh("cd '%s' && '%s' merge part3.json part1.json part0.json part2.json > merged.json", dir, cli) == 0);
    CHECK(same_file("all.json", "merged.json"));
    CHECK(sh("cd '%s' && cat part0.jsonl part1.jsonl part2.jsonl part3.jsonl > parts.jsonl", dir) == 0);
    CHECK(same_file("all.jsonl", "parts.jsonl"));
    /* merge --out writes the same, atomically */
    CHECK(sh("cd '%s' && '%s' merge --out merged2.json part0.json part1.json part2.json part3.json", dir, cli) == 0);
    CHECK(same_file("all.json", "merged2.json"));

    /* Slurm's job array: task 7 of --array=6-9 is shard 1 of 4. */
    CHECK(sh("cd '%s' && SLURM_ARRAY_TASK_ID=7 SLURM_ARRAY_TASK_COUNT=4 SLURM_ARRAY_TASK_MIN=6 "
             "SLURM_ARRAY_TASK_STEP=1 '%s' eval --model '%s' %s --shard slurm > slurm1.json 2>/dev/null",
             dir, cli, baseline, args) == 0);
    CHECK(same_file("part1.json", "slurm1.json"));
    CHECK(sh("cd '%s' && env -u SLURM_ARRAY_TASK_ID '%s' eval --model '%s' %s --shard slurm > /dev/null 2>&1", dir,
             cli, baseline, args) == 2);

    /* What merge refuses. */
    CHECK(sh("cd '%s' && '%s' merge part0.json part1.json part2.json > /dev/null 2> err.txt", dir, cli) == 1);
    CHECK(sh("grep -q '3 file(s) given, but the run has 4 shards' '%s/err.txt'", dir) == 0);
    CHECK(sh("cd '%s' && '%s' merge part0.json part1.json part1.json part3.json > /dev/null 2> err.txt", dir, cli) ==
          1);
    CHECK(sh("grep -q 'shard 2 is missing' '%s/err.txt'", dir) == 0);
    CHECK(sh("cd '%s' && '%s' eval --model '%s' --data '%s' --split all --limit 151 --batch 16 --cache '%s' "
             "--device cpu --shard 3/4 > other3.json 2>/dev/null",
             dir, cli, baseline, data_spec, cache) == 0);
    CHECK(sh("cd '%s' && '%s' merge part0.json part1.json part2.json other3.json > /dev/null 2> err.txt", dir,
             cli) == 1);
    CHECK(sh("grep -q 'other3.json' '%s/err.txt'", dir) == 0);
    CHECK(sh("cd '%s' && '%s' eval --model '%s' %s --shard 3/3 > /dev/null 2>&1", dir, cli, baseline, args) == 2);
}

static void test_explain(void)
{
    char args[8192];
    snprintf(args, sizeof args, "--model '%s' --data '%s' --limit 7", lacnn, data_spec);
    CHECK(sh("cd '%s' && '%s' explain %s > x_all.json 2>/dev/null", dir, cli, args) == 0);
    for (int k = 0; k < 3; k++)
        CHECK(sh("cd '%s' && '%s' explain %s --shard %d/3 > x%d.json 2>/dev/null", dir, cli, args, k, k) == 0);
    CHECK(sh("cd '%s' && '%s' merge x2.json x0.json x1.json > x_merged.json", dir, cli) == 0);
    CHECK(same_file("x_all.json", "x_merged.json"));
    /* a LACNN model: landmarks, so per-part tables */
    CHECK(sh("grep -q '\"parts\":{\"jaw\"' '%s/x_all.json'", dir) == 0);
}

static void test_flip(void)
{
    char args[8192];
    snprintf(args, sizeof args, "--model '%s' --data '%s' --limit 5 --steps 8", baseline, data_spec);
    CHECK(sh("cd '%s' && '%s' flip %s --json > f_all.json 2>/dev/null", dir, cli, args) == 0);
    for (int k = 0; k < 2; k++)
        CHECK(sh("cd '%s' && '%s' flip %s --shard %d/2 > f%d.json 2>/dev/null", dir, cli, args, k, k) == 0);
    CHECK(sh("cd '%s' && '%s' merge f1.json f0.json > f_merged.json", dir, cli) == 0);
    CHECK(same_file("f_all.json", "f_merged.json"));
}

static bool same_pixels(const char *a, const char *b)
{
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    ts_image x = { 0 }, y = { 0 };
    bool same = ts_image_load(pa, &x) == TS_OK && ts_image_load(pb, &y) == TS_OK && x.width == y.width &&
                x.height == y.height;
    long diff = 0;
    for (int r = 0; same && r < x.height; r++)
        for (int c = 0; c < x.width * 3; c++) diff += ts_image_pixel(&x, 0, r)[c] != ts_image_pixel(&y, 0, r)[c];
    fprintf(stderr, "figure: %dx%d and %dx%d, %ld bytes differ\n", x.width, x.height, y.width, y.height, diff);
    ts_image_clear(&x);
    ts_image_clear(&y);
    return same && diff == 0;
}

static void test_figure(void)
{
    char imgs[8192];
    snprintf(imgs, sizeof imgs, "'%s/1.jpg' '%s/100.jpg' '%s/10000.jpg'", images_dir, images_dir, images_dir);
    CHECK(sh("cd '%s' && '%s' figure --model '%s' %s --dpi 72 --out fig.png > /dev/null 2>&1", dir, cli, baseline,
             imgs) == 0);
    for (int k = 0; k < 2; k++)
        CHECK(sh("cd '%s' && '%s' figure --model '%s' %s --dpi 72 --shard %d/2 --out fig-%d.png > /dev/null 2>&1", dir,
                 cli, baseline, imgs, k, k) == 0);
    CHECK(sh("cd '%s' && '%s' merge --out fig-merged.png fig-1.png.json fig-0.png.json > /dev/null", dir, cli) == 0);
    CHECK(same_pixels("fig.png", "fig-merged.png"));
    CHECK(same_file("fig.png.json", "fig-merged.png.json"));
    CHECK(sh("cd '%s' && '%s' figure --model '%s' %s --shard 0/2 --out fig.pdf > /dev/null 2>&1", dir, cli, baseline,
             imgs) == 2);
}

int main(void)
{
    const char *data = getenv("TS_SHARED_DATA"), *src = getenv("TS_SOURCE_ROOT"), *build = getenv("TS_BUILD_ROOT");
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/celebahq/attributes.txt", data ? data : "/nonexistent");
    if (!data || access(probe, R_OK) != 0) {
        printf("SKIP: no CelebA-HQ data under TS_SHARED_DATA\n");
        return 77;
    }
    if (access("/usr/share/dlib/shape_predictor_68_face_landmarks.dat", R_OK) != 0 && !getenv("TRAITSCOPE_MODELS")) {
        printf("SKIP: dlib's 68-point model is not installed (apt-get install libdlib-data)\n");
        return 77;
    }
    snprintf(data_spec, sizeof data_spec, "celeba:%s/celebahq", data);
    snprintf(images_dir, sizeof images_dir, "%s/celebahq/images", data);
    snprintf(baseline, sizeof baseline, "%s/resources/models/baseline.safetensors", src ? src : ".");
    snprintf(lacnn, sizeof lacnn, "%s/resources/models/lacnn.safetensors", src ? src : ".");
    snprintf(cli, sizeof cli, "%s/src/cli/traitscope-cli", build ? build : ".");
    snprintf(dir, sizeof dir, "/tmp/ts-test-shard-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(cache, sizeof cache, "%s/cache", dir);

    test_eval();
    char found[4200];
    bool detector = ts_model_path_find(TS_DETECTOR_SSD_MODEL, "npm ci", found, sizeof found) == TS_OK;
    if (detector) {
        test_explain();
        test_flip();
        test_figure();
    }

    if (failures == 0 && sh("rm -rf '%s'", dir) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "%d failures (files kept in %s)\n", failures, dir);
        return 1;
    }
    if (!detector) {
        printf("SKIP: explain, flip and figure: %s\n", ts_last_error());
        return 77;
    }
    printf("shard: ok\n");
    return 0;
}
