/* test-cache.c - the landmark / A(x,y) cache (train/cache.h): a miss
 * computes and stores, a hit reads back the same points and map, and a
 * damaged entry (truncated, as an interrupted writer without atomic
 * renames would leave it, or with a flipped byte) is detected, recomputed
 * and rewritten.  A face set built with a borrowed open cache (the app's
 * browser builds one per chunk of rows) equals one that opens its own, and
 * leaves the borrowed cache open and working.  Photos of any framing go
 * through the explorer's face finder (test_photos).  Needs dlib's 68-point
 * model and one real CelebA-HQ image (exit 77 without them; without
 * face-api's weights the photo part is skipped, said, and the exit is 77
 * after the rest).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "face/locate.h"
#include "nn/fileio.h"
#include "nn/sha256.h"
#include "train/cache.h"
#include "train/faceset.h"
#include "train/job.h"

static int failures;
#define CHECK(c)                                                            \
    do {                                                                    \
        if (!(c)) {                                                         \
            fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__, __LINE__, #c);    \
            failures++;                                                     \
        }                                                                   \
    } while (0)

static long file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static bool same(const ts_lm_entry *a, const ts_lm_entry *b)
{
    if (a->pts.n != b->pts.n || a->amap_size != b->amap_size) return false;
    for (int i = 0; i < a->pts.n; i++)
        if (a->pts.x[i] != b->pts.x[i] || a->pts.y[i] != b->pts.y[i]) return false;
    return !memcmp(a->amap, b->amap, (size_t)a->amap_size * a->amap_size);
}

/* Counts files in dir/HH whose name contains ".tmp" (left-over temporaries). */
static int temporaries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) if (strstr(e->d_name, ".tmp")) n++;
    closedir(d);
    return n;
}

/* The fuzz seeds were written by a Python script from the format comments
 * (cache.h, job.h): the C readers must accept them, digest included. */
static void seeds(void)
{
    const char *src = getenv("TS_SOURCE_ROOT");
    char p[4200];
    uint8_t *buf;
    size_t len;
    snprintf(p, sizeof p, "%s/tests/fuzz/seeds/train-cache.tslm", src ? src : ".");
    CHECK(ts_read_file(p, 1 << 20, &buf, &len) == TS_OK);
    if (buf) {
        ts_lm_entry e;
        uint8_t isha[32];
        CHECK(ts_lm_entry_parse(buf, len, p, true, isha, NULL, &e) == TS_OK);
        CHECK(e.pts.n == 68 && e.amap_size == 8 && e.img_w == 256 && e.pts.x[1] == 62.0f);
        ts_lm_entry_clear(&e);
        buf[len / 2] ^= 1;
        CHECK(ts_lm_entry_parse(buf, len, p, true, isha, NULL, &e) == TS_ERR_FORMAT);
        CHECK(ts_lm_entry_parse(buf, len - 1, p, false, isha, NULL, &e) == TS_ERR_FORMAT);
        free(buf);
    }
    snprintf(p, sizeof p, "%s/tests/fuzz/seeds/train-state.bin", src ? src : ".");
    CHECK(ts_read_file(p, 1 << 20, &buf, &len) == TS_OK);
    if (buf) {
        char *json = NULL;
        size_t n = 0;
        const float *w;
        CHECK(ts_train_state_parse(buf, len, p, true, &json, &n, &w, NULL) == TS_OK);
        CHECK(n == 6 && json && strstr(json, "traitscope-train-state"));
        float w5;
        if (n == 6) {
            memcpy(&w5, w + 5, sizeof w5);
            CHECK(w5 == 0.5f);
        }
        free(json);
        CHECK(ts_train_state_parse(buf, len - 7, p, true, &json, &n, NULL, NULL) == TS_ERR_FORMAT && !json);
        free(buf);
    }
}

/* Photos of any framing (a folder, a CSV list): the cache finds the face as
 * the explorer does (ts_locate_face: the largest face), not in a fixed box
 * (the three-face party photo of face-api's samples was read in the middle
 * of the image, between the faces); two preparation threads share the one
 * locator and get the points one thread gets.  Skipped, said, without
 * face-api's weights. */
static int test_photos(const char *dir)
{
    char photo[4200];
    const char *src = getenv("TS_SOURCE_ROOT");
    snprintf(photo, sizeof photo, "%s/node_modules/@vladmandic/face-api/demo/sample1.jpg", src ? src : ".");
    ts_lmcache_policy pol = ts_lmcache_policy_for("folder");
    CHECK(pol.box == TS_BOX_DETECTOR && ts_lmcache_policy_for(NULL).box == TS_BOX_DETECTOR &&
          ts_lmcache_policy_for("celeba").box == TS_BOX_FIXED);
    ts_lmcache *c;
    if (access(photo, R_OK) != 0 || ts_lmcache_open(dir, &pol, 0, &c) != TS_OK) {
        printf("SKIP (photos): face-api's sample photo or weights are missing (npm ci): %s\n", ts_last_error());
        return 77;
    }
    ts_lm_entry e;
    ts_image img;
    CHECK(ts_lmcache_get(c, photo, &e, &img, NULL) == TS_OK);
    ts_locator *loc;
    ts_located_face f;
    CHECK(ts_locator_new(NULL, &loc) == TS_OK && ts_locate_face(loc, &img, &f) == TS_OK);
    double worst = 0;
    for (int i = 0; i < 68; i++)
        worst = fmax(worst, fmax(fabs(e.pts.x[i] - f.pts.x[i]), fabs(e.pts.y[i] - f.pts.y[i])));
    fprintf(stderr, "photo: cache vs the explorer's face: largest point difference %.3g px\n", worst);
    CHECK(f.detected && worst < 1e-3);
    /* the points lie in the detected face, which is off the image's centre */
    float cx = 0;
    for (int i = 0; i < 68; i++) cx += e.pts.x[i] / 68;
    CHECK(cx > f.box.x && cx < f.box.x + f.box.w && fabs(cx - 0.5f * img.width) > 0.1f * img.width);

    char *paths[4] = { photo, photo, photo, photo };
    ts_dataset ds = { .kind = (char *)"folder", .n_rows = 4, .paths = paths };
    int rows[4] = { 0, 1, 2, 3 };
    ts_faceset_options o = { .size = 48, .align = TS_ALIGN_SIMILARITY, .landmarks = true, .threads = 2, .cache = c };
    ts_faceset fs;
    CHECK(ts_faceset_build(&fs, &ds, rows, 4, &o, NULL, NULL, NULL) == TS_OK && fs.n == 4);
    for (int i = 0; i < fs.n; i++) CHECK(fs.pts[i].n == 68 && fs.pts[i].x[30] == fs.pts[0].x[30]);
    ts_faceset_clear(&fs);
    ts_locator_free(loc);
    ts_image_clear(&img);
    ts_lm_entry_clear(&e);
    ts_lmcache_free(c);
    return 0;
}

int main(void)
{
    seeds();
    const char *data = getenv("TS_SHARED_DATA");
    char img[4096];
    snprintf(img, sizeof img, "%s/celebahq/images/1.jpg", data ? data : "/nonexistent");
    if (access(img, R_OK) != 0) {
        printf("SKIP: no real data at %s\n", img);
        return 77;
    }
    char tmpl[] = "/tmp/ts-test-cache-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    ts_lmcache_policy pol = ts_lmcache_policy_for("celeba");
    ts_lmcache *c;
    ts_status st = ts_lmcache_open(dir, &pol, 48, &c);
    if (st == TS_ERR_IO) {
        printf("SKIP: %s\n", ts_last_error());
        return 77;
    }
    CHECK(st == TS_OK);

    ts_lm_entry e1, e2;
    bool hit = true;
    ts_image im;
    CHECK(ts_lmcache_get(c, img, &e1, &im, &hit) == TS_OK);
    CHECK(!hit);
    CHECK(e1.pts.n == 68 && e1.amap_size == 48 && e1.amap != NULL);
    CHECK(im.width == 256 && im.height == 256 && e1.img_w == 256);
    /* The eyes of an aligned CelebA-HQ face are in the upper middle. */
    CHECK(e1.pts.x[36] > 40 && e1.pts.x[36] < 128 && e1.pts.x[45] > 128 && e1.pts.x[45] < 216);
    CHECK(e1.pts.y[36] > 80 && e1.pts.y[36] < 170);
    ts_image_clear(&im);

    CHECK(ts_lmcache_get(c, img, &e2, NULL, &hit) == TS_OK);
    CHECK(hit);
    CHECK(same(&e1, &e2));
    ts_lm_entry_clear(&e2);

    /* Locate the entry. */
    uint8_t *bytes;
    size_t len;
    CHECK(ts_read_file(img, 1 << 26, &bytes, &len) == TS_OK);
    char hex[TS_SHA256_HEX_LEN + 1];
    ts_sha256_hex(bytes, len, hex);
    free(bytes);
    char *entry = ts_lmcache_entry_path(c, hex);
    long full = file_size(entry);
    CHECK(full > 100);

    /* Truncated entry -> miss, recomputed, rewritten whole. */
    CHECK(truncate(entry, full / 2) == 0);
    CHECK(ts_lmcache_get(c, img, &e2, NULL, &hit) == TS_OK);
    CHECK(!hit);
    CHECK(same(&e1, &e2));
    CHECK(file_size(entry) == full);
    ts_lm_entry_clear(&e2);

    /* A flipped byte in the A(x,y) map -> checksum mismatch -> miss. */
    FILE *f = fopen(entry, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, full - 40, SEEK_SET);
        int ch = fgetc(f);
        fseek(f, full - 40, SEEK_SET);
        fputc(ch ^ 0x01, f);
        fclose(f);
    }
    CHECK(ts_lmcache_get(c, img, &e2, NULL, &hit) == TS_OK);
    CHECK(!hit);
    CHECK(same(&e1, &e2));
    ts_lm_entry_clear(&e2);
    CHECK(ts_lmcache_get(c, img, &e2, NULL, &hit) == TS_OK);
    CHECK(hit);
    ts_lm_entry_clear(&e2);

    /* Another A(x,y) size is another key; landmarks agree. */
    ts_lmcache *c2;
    CHECK(ts_lmcache_open(dir, &pol, 0, &c2) == TS_OK);
    CHECK(ts_lmcache_get(c2, img, &e2, NULL, &hit) == TS_OK);
    CHECK(!hit && e2.amap == NULL && e2.pts.x[30] == e1.pts.x[30]);
    ts_lm_entry_clear(&e2);
    ts_lmcache_free(c2);

    /* A face set on a borrowed cache: the same bases and points as one
     * that opens the cache itself; the borrowed one stays usable. */
    {
        char *paths[2] = { img, img };
        ts_dataset ds = { .kind = (char *)"celeba", .n_rows = 2, .paths = paths };
        int rows[2] = { 0, 1 };
        ts_faceset_options own = { .size = 48, .align = TS_ALIGN_SIMILARITY, .landmarks = true, .cache_dir = dir,
                                   .threads = 1 };
        ts_faceset_options borrowed = own;
        borrowed.cache = c;
        ts_faceset fa, fb;
        CHECK(ts_faceset_build(&fa, &ds, rows, 2, &own, NULL, NULL, NULL) == TS_OK);
        CHECK(ts_faceset_build(&fb, &ds, rows, 2, &borrowed, NULL, NULL, NULL) == TS_OK);
        CHECK(fa.n == 2 && fb.n == 2 && fb.landmarks && fb.pts[1].n == 68);
        for (int i = 0; i < fa.n && i < fb.n; i++) {
            const ts_image *x = &fa.base[i], *y = &fb.base[i];
            CHECK(x->width == y->width && x->height == y->height && x->width > 48);
            for (int r = 0; r < x->height && x->width == y->width && x->height == y->height; r++)
                CHECK(memcmp(x->data + (size_t)r * x->stride, y->data + (size_t)r * y->stride, (size_t)x->width * 3) == 0);
            CHECK(fa.pts[i].n == fb.pts[i].n && memcmp(fa.pts[i].x, fb.pts[i].x, sizeof(float) * 68) == 0);
        }
        ts_faceset_clear(&fa);
        ts_faceset_clear(&fb);
        CHECK(ts_lmcache_get(c, img, &e2, NULL, &hit) == TS_OK && hit);
        ts_lm_entry_clear(&e2);
        /* one face: the same base as the set's; a missing image names itself */
        ts_image one = { 0 };
        ts_points one_pts;
        CHECK(ts_faceset_face(&borrowed, img, &one, &one_pts) == TS_OK && one_pts.n == 68);
        ts_image_clear(&one);
        CHECK(ts_faceset_face(&borrowed, "/nonexistent/y.jpg", &one, &one_pts) == TS_ERR_IO &&
              strstr(ts_last_error(), "/nonexistent/y.jpg") != NULL);
        CHECK(ts_faceset_face(&own, img, &one, &one_pts) == TS_ERR_ARG); /* landmarks without a cache */
    }

    char sub[4200];
    snprintf(sub, sizeof sub, "%s/%.2s", dir, hex);
    CHECK(temporaries(sub) == 0);

    /* A missing image is an error naming it, not a crash. */
    CHECK(ts_lmcache_get(c, "/nonexistent/x.jpg", &e2, NULL, &hit) == TS_ERR_IO);
    CHECK(strstr(ts_last_error(), "/nonexistent/x.jpg") != NULL);

    free(entry);
    ts_lm_entry_clear(&e1);
    ts_lmcache_free(c);
    int photos = test_photos(dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    if (failures) return 1;
    if (photos == 77) return 77;
    printf("cache: ok\n");
    return 0;
}
