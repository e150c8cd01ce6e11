/* cmd-merge.c - `traitscope-cli merge SHARD...`: puts the outputs of a
 * command run as N shards (--shard K/N, cli/shard.h; e.g. the tasks of a
 * Slurm job array) back together into the output one unsharded run prints.
 *
 * Inputs: the shards' JSON files in any order (a glob sorts 10 before 2;
 * the "shard" block says which is which).  They must be of one command,
 * all N of them exactly once, with blocks that tile the items, and made
 * with the same settings (the keys each command lists below must be equal).
 * Each command's merge (cmd-eval.c, cmd-flip.c, cmd-explain.c) rebuilds
 * the unsharded JSON from exact counts or from the per-item records, in
 * item order, with the unsharded command's own arithmetic: the numbers
 * are the same, not merely close.
 *
 * figure: the inputs are the shards' sidecars (FIG-K.png.json); each
 * shard drew its rows as a band of the whole figure's page at its place
 * (figure.h), so the merged PNG is the bands stacked, pixel for pixel the
 * unsharded figure; --out FIG.png names it, and FIG.png.json gets the
 * merged sidecar (the unsharded one's "images", "models" and "settings").
 *
 * Output: the merged JSON on stdout, or atomically to --out FILE.  Exit 0,
 * 1 (a shard missing, unreadable or unlike the others: the message names
 * the file), 2 (usage).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "face/image.h"
#include "nn/fileio.h"
#include "nn/safetext.h"
#include "cli/shard.h"

#define MAX_FILES 100000
#define MAX_SHARD_FILE ((size_t)1 << 30)

static void help(void)
{
    printf("usage: traitscope-cli merge [--out FILE] SHARD.json...\n\n"
           "Combines the JSON outputs of eval, flip, explain --data or figure run with --shard K/N\n"
           "(all N shards, in any order) into the output of one unsharded run.  figure: give\n"
           "the shards' sidecars (FIG.png.json) and --out FIG.png; the bands are stacked into\n"
           "the whole figure.  Writes to stdout, or to --out atomically.\n");
}

typedef struct shard_file {
    const char *path;
    cJSON *j;
    int index, count, items, first, end;
    const char *command;
} shard_file;

static int by_index(const void *a, const void *b)
{
    const shard_file *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

static bool whole(const cJSON *v, int *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 2e9) ||
        v->valuedouble != (double)(int)v->valuedouble)
        return false;
    *out = (int)v->valuedouble;
    return true;
}

static ts_status read_shard(const char *path, shard_file *f)
{
    uint8_t *buf;
    size_t len;
    memset(f, 0, sizeof *f);
    f->path = path;
    TS_TRY(ts_read_file(path, MAX_SHARD_FILE, &buf, &len));
    f->j = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    if (!cJSON_IsObject(f->j)) return ts_error(TS_ERR_FORMAT, "%s: not a JSON object", path);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(f->j, "shard");
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(s, "command");
    if (!cJSON_IsObject(s) || !cJSON_IsString(cmd) ||
        !whole(cJSON_GetObjectItemCaseSensitive(s, "index"), &f->index) ||
        !whole(cJSON_GetObjectItemCaseSensitive(s, "count"), &f->count) ||
        !whole(cJSON_GetObjectItemCaseSensitive(s, "items"), &f->items) ||
        !whole(cJSON_GetObjectItemCaseSensitive(s, "first"), &f->first) ||
        !whole(cJSON_GetObjectItemCaseSensitive(s, "end"), &f->end) || f->count < 1 || f->index >= f->count ||
        f->first > f->end || f->end > f->items)
        return ts_error(TS_ERR_FORMAT, "%s: no valid \"shard\" block (is it the output of a command run with --shard?)",
                        path);
    f->command = cmd->valuestring;
    return TS_OK;
}

/* The settings every shard of a command must share. */
static const char *const *same_keys(const char *command)
{
    static const char *const eval[] = { "model", "data", "split", "alignment", "model_alignment", "swapped",
                                        "oversample", NULL };
    static const char *const flip[] = { "model", "data", "rules", "patch", "fill", NULL };
    static const char *const explain[] = { "model", "data", "rules", "rules_applied", "target", NULL };
    static const char *const figure[] = { "tool", "version", "models", "settings", NULL };
    if (!strcmp(command, "eval")) return eval;
    if (!strcmp(command, "flip")) return flip;
    if (!strcmp(command, "explain")) return explain;
    if (!strcmp(command, "figure")) return figure;
    return NULL;
}

/* Checks that the files are the N shards of one run; sorts them by index. */
static ts_status check_set(shard_file *f, int n)
{
    const char *const *keys = same_keys(f[0].command);
    if (!keys) return ts_error(TS_ERR_FORMAT, "%s: shards of '%s' cannot be merged", f[0].path, f[0].command);
    for (int i = 1; i < n; i++) {
        if (strcmp(f[i].command, f[0].command))
            return ts_error(TS_ERR_ARG, "%s is a shard of '%s', %s of '%s'", f[i].path, f[i].command, f[0].path,
                            f[0].command);
        if (f[i].count != f[0].count || f[i].items != f[0].items)
            return ts_error(TS_ERR_ARG, "%s is shard %d of %d over %d items, %s of %d over %d: not one run", f[i].path,
                            f[i].index, f[i].count, f[i].items, f[0].path, f[0].count, f[0].items);
        for (const char *const *k = keys; *k; k++) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(f[0].j, *k), *b = cJSON_GetObjectItemCaseSensitive(f[i].j, *k);
            if (!cJSON_Compare(a, b, true))
                return ts_error(TS_ERR_ARG, "%s and %s differ in \"%s\": shards of different runs", f[0].path,
                                f[i].path, *k);
        }
    }
    if (n != f[0].count)
        return ts_error(TS_ERR_ARG, "%d file(s) given, but the run has %d shards", n, f[0].count);
    qsort(f, (size_t)n, sizeof *f, by_index);
    for (int i = 0; i < n; i++) {
        if (f[i].index != i)
            return ts_error(TS_ERR_ARG, "shard %d is missing (%s is shard %d too)", i, f[i].path, f[i].index);
        int want = i ? f[i - 1].end : 0;
        if (f[i].first != want || (i == n - 1 && f[i].end != f[i].items))
            return ts_error(TS_ERR_ARG, "%s: its block [%d, %d) does not follow the shard before it", f[i].path,
                            f[i].first, f[i].end);
    }
    return TS_OK;
}

static ts_status write_text(const char *path, const char *text)
{
    if (!path) {
        printf("%s\n", text);
        return fflush(stdout) == 0 ? TS_OK : ts_error(TS_ERR_IO, "stdout: write failed");
    }
    ts_atomic_file af;
    TS_TRY(ts_atomic_open(&af, path));
    size_t n = strlen(text);
    if (fwrite(text, 1, n, af.f) != n || fputc('\n', af.f) == EOF) {
        ts_atomic_abort(&af);
        return ts_error(TS_ERR_IO, "%s: write failed", path);
    }
    return ts_atomic_commit(&af);
}

/* figure: the shards' bands stacked into --out, and the merged sidecar. */
static ts_status merge_figure(shard_file *f, int n, const char *out)
{
    if (!out) return ts_error(TS_ERR_ARG, "merge: figure shards need --out FIG.png");
    ts_image *band = calloc((size_t)n, sizeof *band), all = { 0 };
    ts_status st = band ? TS_OK : ts_error(TS_ERR_OOM, "out of memory");
    int height = 0;
    for (int i = 0; i < n && st == TS_OK; i++) {
        size_t L = strlen(f[i].path);
        char *png = strdup(f[i].path);
        if (!png || L < 5 || strcmp(png + L - 5, ".json")) {
            free(png);
            st = ts_error(TS_ERR_ARG, "%s: a figure shard's sidecar is named FIG.png.json", f[i].path);
            break;
        }
        png[L - 5] = '\0';
        st = ts_image_load(png, &band[i]);
        if (st == TS_OK && i && band[i].width != band[0].width)
            st = ts_error(TS_ERR_FORMAT, "%s: %d pixels wide, shard 0's band %d", png, band[i].width, band[0].width);
        height += st == TS_OK ? band[i].height : 0;
        free(png);
    }
    if (st == TS_OK) st = ts_image_init(&all, band[0].width, height);
    for (int i = 0, y = 0; i < n && st == TS_OK; y += band[i].height, i++)
        for (int r = 0; r < band[i].height; r++)
            memcpy(ts_image_pixel(&all, 0, y + r), ts_image_pixel(&band[i], 0, r), (size_t)band[i].width * 3);
    /* The sidecar: shard 0's with every shard's images, in order. */
    cJSON *side = NULL;
    if (st == TS_OK) {
        side = cJSON_Duplicate(f[0].j, true);
        cJSON_DeleteItemFromObjectCaseSensitive(side, "shard");
        cJSON *imgs = cJSON_CreateArray();
        for (int i = 0; i < n; i++) {
            const cJSON *e, *a = cJSON_GetObjectItemCaseSensitive(f[i].j, "images");
            cJSON_ArrayForEach(e, a) cJSON_AddItemToArray(imgs, cJSON_Duplicate(e, true));
        }
        cJSON_ReplaceItemInObjectCaseSensitive(side, "images", imgs);
    }
    char *text = side ? ts_json_print(side, true) : NULL;
    if (st == TS_OK && !text) st = ts_error(TS_ERR_OOM, "out of memory");
    if (st == TS_OK) st = ts_image_save_png(out, &all);
    if (st == TS_OK) {
        size_t L = strlen(out) + 6;
        char *sp = malloc(L);
        snprintf(sp, L, "%s.json", out);
        ts_atomic_file af;
        st = ts_atomic_open(&af, sp);
        if (st == TS_OK) {
            size_t len = strlen(text);
            if (fwrite(text, 1, len, af.f) != len) {
                ts_atomic_abort(&af);
                st = ts_error(TS_ERR_IO, "%s: write failed", sp);
            } else {
                st = ts_atomic_commit(&af);
            }
        }
        if (st == TS_OK) printf("{\"figure\":\"%s\",\"sidecar\":\"%s\",\"faces\":%d,\"shards\":%d}\n", out, sp,
                                cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(side, "images")), n);
        free(sp);
    }
    free(text);
    cJSON_Delete(side);
    for (int i = 0; band && i < n; i++) ts_image_clear(&band[i]);
    free(band);
    ts_image_clear(&all);
    return st;
}

int cmd_merge(int argc, char **argv)
{
    const char *out = NULL, *v;
    int n = 0;
    shard_file *f = calloc((size_t)(argc > 1 ? argc : 1), sizeof *f);
    if (!f) return cli_fail("merge", ts_error(TS_ERR_OOM, "out of memory"));
    const char **paths = calloc((size_t)(argc > 1 ? argc : 1), sizeof *paths);
    int rc = CMD_OK;
    for (int i = 1; i < argc && rc == CMD_OK; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            free(f);
            free(paths);
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) {
            out = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            rc = cli_usage_error("merge", "unknown option '%s'", argv[i]);
        } else if (n == MAX_FILES) {
            rc = cli_usage_error("merge", "at most %d shards", MAX_FILES);
        } else {
            paths[n++] = argv[i];
        }
    }
    if (rc == CMD_OK && n == 0) rc = cli_usage_error("merge", "no shard files given");
    ts_status st = TS_OK;
    for (int i = 0; rc == CMD_OK && i < n && st == TS_OK; i++) st = read_shard(paths[i], &f[i]);
    if (rc == CMD_OK && st == TS_OK) st = check_set(f, n);
    if (rc == CMD_OK && st == TS_OK) {
        if (!strcmp(f[0].command, "figure")) {
            st = merge_figure(f, n, out);
        } else {
            cJSON **js = malloc((size_t)n * sizeof *js);
            cJSON *m = NULL;
            if (!js) st = ts_error(TS_ERR_OOM, "out of memory");
            for (int i = 0; js && i < n; i++) js[i] = f[i].j;
            if (st == TS_OK) {
                if (!strcmp(f[0].command, "eval")) m = cli_eval_merge(js, n);
                else if (!strcmp(f[0].command, "flip")) m = cli_flip_merge(js, n);
                else m = cli_explain_merge(js, n);
                if (!m) st = ts_error_prefix(TS_ERR_FORMAT, "merge: ");
            }
            char *text = m ? ts_json_print(m, false) : NULL; /* as the commands print */
            if (st == TS_OK) st = text ? write_text(out, text) : ts_error(TS_ERR_OOM, "out of memory");
            free(text);
            cJSON_Delete(m);
            free(js);
        }
    }
    if (rc == CMD_OK && st != TS_OK) rc = cli_fail("merge", st);
    for (int i = 0; i < n; i++) cJSON_Delete(f[i].j);
    free(f);
    free(paths);
    return rc;
}
