/* test-cli-amap.c - `traitscope-cli amap` end to end (cmd-amap.c).
 *
 * Runs the CLI (path in argv[1]) on generated landmark files: the PGM is a
 * binary P5 whose bytes equal ts_amap_reference; the PNG decodes to the
 * requested size; bad JSON, a bad size, 256 points and a wrong extension
 * fail with exit status 1 or 2 and a message naming the problem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "face/amap.h"
#include "nn/fileio.h"
#include "face/image.h"
#include "face/points.h"

static int failures;
#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static const char *cli;
static char dir[64];

/* Runs the CLI with `args`; returns its exit status, stderr in err. */
static int run(const char *args, char *err, size_t errlen)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' amap %s 2>'%s/err.txt' >/dev/null", cli, args, dir);
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : 99;
    char p[128];
    snprintf(p, sizeof p, "%s/err.txt", dir);
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(err, 1, errlen - 1, f) : 0;
    err[n] = 0;
    if (f) fclose(f);
    return rc;
}

static void write_text(const char *name, const char *text)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test-cli-amap PATH-TO-traitscope-cli\n");
        return 1;
    }
    cli = argv[1];
    snprintf(dir, sizeof dir, "/tmp/ts-test-cli-amap-XXXXXX");
    if (!mkdtemp(dir)) return 1;

    /* 68 points, some outside the picture. */
    ts_landmarks lm = { .method = "ert" };
    lm.pts.n = 68;
    for (int i = 0; i < 68; i++) {
        lm.pts.x[i] = -10.0f + (float)(i * 37 % 71) * 1.7f;
        lm.pts.y[i] = (float)(i * 11 % 53) * 1.9f - 3.0f;
    }
    char p[160], args[1024], err[4096];
    snprintf(p, sizeof p, "%s/lm.json", dir);
    CHECK(ts_landmarks_save(p, &lm) == TS_OK);

    snprintf(args, sizeof args, "--landmarks '%s/lm.json' --size 97x61 --out '%s/a.pgm'", dir, dir);
    CHECK(run(args, err, sizeof err) == 0);
    snprintf(p, sizeof p, "%s/a.pgm", dir);
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(ts_read_file(p, 1 << 20, &buf, &len) == TS_OK);
    const char *hdr = "P5\n97 61\n255\n";
    size_t hl = strlen(hdr);
    CHECK(buf && len == hl + 97 * 61 && !memcmp(buf, hdr, hl));
    uint8_t *ref = malloc(97 * 61);
    CHECK(ts_amap_reference(&lm.pts, 97, 61, ref) == TS_OK);
    if (buf && len == hl + 97 * 61) CHECK(!memcmp(buf + hl, ref, 97 * 61));
    free(buf);
    free(ref);

    snprintf(args, sizeof args, "--landmarks '%s/lm.json' --size 120x90 --out '%s/a.png'", dir, dir);
    CHECK(run(args, err, sizeof err) == 0);
    snprintf(p, sizeof p, "%s/a.png", dir);
    ts_image img;
    CHECK(ts_image_load(p, &img) == TS_OK);
    CHECK(img.width == 120 && img.height == 90);
    ts_image_clear(&img);

    /* Errors. */
    write_text("bad.json", "{\"landmarks\":[[1,2],");
    snprintf(args, sizeof args, "--landmarks '%s/bad.json' --size 10x10 --out '%s/b.pgm'", dir, dir);
    CHECK(run(args, err, sizeof err) == 1 && strstr(err, "bad.json") && strstr(err, "JSON"));
    snprintf(args, sizeof args, "--landmarks '%s/lm.json' --size 10x0 --out '%s/b.pgm'", dir, dir);
    CHECK(run(args, err, sizeof err) == 2 && strstr(err, "--size"));
    snprintf(args, sizeof args, "--landmarks '%s/lm.json' --size 10 --out '%s/b.pgm'", dir, dir);
    CHECK(run(args, err, sizeof err) == 2 && strstr(err, "--size"));
    snprintf(args, sizeof args, "--landmarks '%s/lm.json' --size 10x10 --out '%s/b.jpg'", dir, dir);
    CHECK(run(args, err, sizeof err) == 2 && strstr(err, ".pgm"));
    {
        static char big[256 * 16 + 64];
        size_t at = (size_t)snprintf(big, sizeof big, "{\"landmarks\":[");
        for (int i = 0; i < 256; i++) at += (size_t)snprintf(big + at, sizeof big - at, "%s[%d,1]", i ? "," : "", i);
        snprintf(big + at, sizeof big - at, "]}");
        write_text("many.json", big);
    }
    snprintf(args, sizeof args, "--landmarks '%s/many.json' --size 10x10 --out '%s/b.pgm'", dir, dir);
    CHECK(run(args, err, sizeof err) == 1 && strstr(err, "many.json") && strstr(err, "256 points"));
    snprintf(p, sizeof p, "%s/b.pgm", dir);
    FILE *f = fopen(p, "r");
    CHECK(f == NULL); /* nothing written on failure */
    if (f) fclose(f);

    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    if (system(args) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test-cli-amap: %d check(s) failed (last stderr: %s)\n", failures, err);
        return 1;
    }
    printf("test-cli-amap: ok\n");
    return 0;
}
