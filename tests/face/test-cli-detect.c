/* test-cli-detect.c - `traitscope-cli detect IMAGE` keeps its JSON contract:
 * {"faces":[{"x","y","w","h","score","roll"}...]}, best first, the same boxes
 * as face-api's on demo photo sample1 (fixture faceapi-sample1.json: SSD by
 * default, the tiny detector with --detector tiny), exit 0; a missing image
 * exits 1 with a message naming it; bad flags exit 2.
 * Skips (77) when face-api's npm package is not installed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "face/detector.h"
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

/* Runs a command, returns its exit status and stdout (+ stderr). */
static int run(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int main(void)
{
    const char *src = getenv("TS_SOURCE_ROOT"), *build = getenv("TS_BUILD_ROOT");
    if (!src || !build) {
        printf("skip: TS_SOURCE_ROOT / TS_BUILD_ROOT not set (run through meson test)\n");
        return 77;
    }
    ts_detector *d = NULL;
    if (ts_detector_load(TS_DETECTOR_SSD, NULL, &d) != TS_OK) {
        printf("skip: %s\n", ts_last_error());
        return 77;
    }
    ts_detector_free(d);

    char cmd[8192], out[65536];
    char fx[4096];
    snprintf(fx, sizeof fx, "%s/tests/face/fixtures/faceapi-sample1.json", src);
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(ts_read_file(fx, 1 << 20, &buf, &len) == TS_OK, "%s", ts_last_error());
    cJSON *ref = buf ? cJSON_ParseWithLength((const char *)buf, len) : NULL;
    free(buf);
    static const char *const runs[2][2] = { { "", "ssd_faces" }, { "--detector tiny", "faces" } };
    for (int r = 0; r < 2; r++) {
        snprintf(cmd, sizeof cmd, "'%s/src/cli/traitscope-cli' detect %s "
                 "'%s/node_modules/@vladmandic/face-api/demo/sample1.jpg'", build, runs[r][0], src);
        int rc = run(cmd, out, sizeof out);
        CHECK(rc == 0, "detect exited %d: %s", rc, out);
        cJSON *j = cJSON_Parse(out);
        CHECK(j, "output is not JSON: %s", out);
        const cJSON *faces = cJSON_GetObjectItemCaseSensitive(j, "faces");
        const cJSON *rfaces = cJSON_GetObjectItemCaseSensitive(ref, runs[r][1]);
        CHECK(cJSON_IsArray(faces) && cJSON_GetArraySize(faces) == cJSON_GetArraySize(rfaces) &&
                  cJSON_GetArraySize(faces) == 3,
              "%s: 3 faces expected: %s", runs[r][1], out);
        for (int i = 0; cJSON_IsArray(faces) && i < cJSON_GetArraySize(faces) &&
                        i < cJSON_GetArraySize(rfaces); i++) {
            const cJSON *f = cJSON_GetArrayItem(faces, i), *g = cJSON_GetArrayItem(rfaces, i);
            static const char *keys[] = { "x", "y", "w", "h", "score" };
            for (int k = 0; k < 5; k++) {
                double tol = k == 4 ? 0.002 : 1.0;
                CHECK(fabs(num(f, keys[k]) - num(g, keys[k])) < tol, "%s face %d %s: %g vs face-api %g",
                      runs[r][1], i, keys[k], num(f, keys[k]), num(g, keys[k]));
            }
            CHECK(num(f, "roll") == 0, "%s face %d: roll %g", runs[r][1], i, num(f, "roll"));
            if (i) CHECK(num(f, "score") <= num(cJSON_GetArrayItem(faces, i - 1), "score"), "order");
        }
        cJSON_Delete(j);
    }
    cJSON_Delete(ref);
    int rc;

    snprintf(cmd, sizeof cmd, "'%s/src/cli/traitscope-cli' detect /nonexistent/photo.jpg 2>&1", build);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "/nonexistent/photo.jpg"), "missing image: exit %d, '%s'", rc, out);
    snprintf(cmd, sizeof cmd, "'%s/src/cli/traitscope-cli' detect --input-size 400 x.jpg 2>&1", build);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "fixed at 512"), "bad ssd input size: exit %d, '%s'", rc, out);
    snprintf(cmd, sizeof cmd, "'%s/src/cli/traitscope-cli' detect --detector tiny --input-size 400 x.jpg 2>&1", build);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "multiple of 32"), "bad input size: exit %d, '%s'", rc, out);
    snprintf(cmd, sizeof cmd, "'%s/src/cli/traitscope-cli' detect --detector yolo x.jpg 2>&1", build);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 2 && strstr(out, "ssd or tiny"), "bad detector: exit %d, '%s'", rc, out);
    snprintf(cmd, sizeof cmd, "'%s/src/cli/traitscope-cli' detect --min-score 2 x.jpg 2>&1", build);
    rc = run(cmd, out, sizeof out);
    CHECK(rc == 2, "bad min score: exit %d, '%s'", rc, out);
    return failures ? 1 : 0;
}
