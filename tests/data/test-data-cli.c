/* test-data-cli.c - `traitscope-cli data` end to end: its JSON output (the
 * contract in src/cli/cmd-data.c) on a generated CSV dataset with a broken
 * row, the split counts and saved split file, and its exit statuses for a
 * missing folder (1) and bad usage (2).  The CLI is found through
 * $TS_BUILD_ROOT/src/cli/traitscope-cli.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/split.h"

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

/* Runs a shell command; returns its exit status and its stdout (malloc'd). */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int json_int(const cJSON *a, int i)
{
    const cJSON *e = cJSON_GetArrayItem(a, i);
    return cJSON_IsNumber(e) ? e->valueint : -1;
}

int main(void)
{
    const char *build = getenv("TS_BUILD_ROOT");
    char cli[1024];
    snprintf(cli, sizeof cli, "%s/src/cli/traitscope-cli", build ? build : ".");
    if (access(cli, X_OK) != 0) {
        printf("skip: %s not built\n", cli);
        return 77;
    }
    char dir[] = "/tmp/ts-test-data-cli-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char csv[256], splitf[256];
    snprintf(csv, sizeof csv, "%s/faces.csv", dir);
    snprintf(splitf, sizeof splitf, "%s/split.json", dir);
    FILE *f = fopen(csv, "w");
    if (!f) return 1;
    fprintf(f, "path,label\n");
    for (int i = 0; i < 50; i++) {
        if (i == 1) fprintf(f, "broken.jpg\n"); /* line 3 */
        fprintf(f, "img%02d.jpg,%s\n", i, i % 5 == 0 ? "smile" : "neutral");
    }
    fclose(f);

    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' data --data 'csv:%s' --trait label --split --save-split '%s'", cli, csv,
             splitf);
    int rc = run(cmd, &out);
    CHECK(rc == 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(j != NULL);
    if (j) {
        CHECK(cJSON_GetObjectItem(j, "rows")->valueint == 50);
        CHECK(!strcmp(cJSON_GetObjectItem(j, "kind")->valuestring, "csv"));
        const cJSON *traits = cJSON_GetObjectItem(j, "traits");
        CHECK(cJSON_GetArraySize(traits) == 1);
        const cJSON *t = cJSON_GetArrayItem(traits, 0);
        const cJSON *classes = cJSON_GetObjectItem(t, "classes");
        CHECK(!strcmp(cJSON_GetArrayItem(classes, 0)->valuestring, "neutral"));
        CHECK(!strcmp(cJSON_GetArrayItem(classes, 1)->valuestring, "smile"));
        const cJSON *counts = cJSON_GetObjectItem(t, "counts");
        CHECK(json_int(counts, 0) == 40 && json_int(counts, 1) == 10);
        const cJSON *split = cJSON_GetObjectItem(j, "split");
        const cJSON *test = cJSON_GetObjectItem(split, "test"), *train = cJSON_GetObjectItem(split, "train");
        CHECK(json_int(test, 0) == 8 && json_int(test, 1) == 2);
        CHECK(json_int(train, 0) == 32 && json_int(train, 1) == 8);
        CHECK(cJSON_GetObjectItem(j, "warnings_total")->valueint == 1);
        char want[300];
        snprintf(want, sizeof want, "%s:3:", csv);
        const cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "warnings"), 0);
        CHECK(cJSON_IsString(w) && strstr(w->valuestring, want));
        cJSON_Delete(j);
    }
    free(out);
    ts_split s;
    CHECK(ts_split_load(&s, splitf) == TS_OK && s.n_test == 10 && s.n_train == 40);
    ts_split_clear(&s);

    /* Missing folder: exit 1, no JSON.  Bad usage: exit 2. */
    snprintf(cmd, sizeof cmd, "'%s' data --data celeba:%s/nothing-here 2>/dev/null", cli, dir);
    rc = run(cmd, &out);
    CHECK(rc == 1 && out[0] == '\0');
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' data --data 'csv:%s' --trait nope 2>/dev/null", cli, csv);
    rc = run(cmd, &out);
    CHECK(rc == 1);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' data --limit 0 --data 'csv:%s' 2>/dev/null", cli, csv);
    rc = run(cmd, &out);
    CHECK(rc == 2);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' data 2>/dev/null", cli);
    rc = run(cmd, &out);
    CHECK(rc == 2);
    free(out);

    unlink(csv);
    unlink(splitf);
    rmdir(dir);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("data cli: all checks passed\n");
    return 0;
}
