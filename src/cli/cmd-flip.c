/* cmd-flip.c - `traitscope-cli flip --model MODEL --data SPEC [--limit N]`:
 * pixel flipping (Samek et al. 2017; src/explain/aopc.h) of LRP heatmaps
 * over the images of a dataset, and the AOPC against a random order.
 *
 * For each image: the model input (face/input.h; landmarks by the model's
 * method for 4-channel models), LRP with --rules for --target (default the
 * predicted class), the RGB heatmap, then MoRF and random-order flipping of
 * --patch squares for --steps steps.  Output: a table (image, target,
 * f(x), AOPC MoRF, AOPC random) and the means; --json prints one object
 * {"model","data","rules","patch","steps","fill","images":[{"image",
 * "target","score","aopc_morf","aopc_random"}],"aopc_morf","aopc_random",
 * "curve_morf":[..],"curve_random":[..],"skipped":K} (mean curves, steps + 1
 * values).  Unreadable images are skipped: the first few are named on
 * stderr, then their count (K in the JSON), and the exit status is 1.
 *
 * --shard K/N (or slurm; cli/shard.h) flips block K of the N blocks of the
 * rows and prints the JSON (implied) with "shard" and each image's "row",
 * "curve_morf" and "curve_random" (exact numbers); `traitscope-cli merge`
 * of all N sums the skips, the curves and the AOPCs image by image in row
 * order, as this command does, and prints its unsharded JSON.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/dataset.h"
#include "explain/aopc.h"
#include "explain/explain.h"
#include "face/input.h"
#include "explain/lrp.h"
#include "nn/safetext.h"
#include "cli/shard.h"

static void help(void)
{
    printf("usage: traitscope-cli flip --model MODEL --data SPEC [--limit N] [options]\n\n"
           "Pixel flipping of LRP heatmaps: AOPC (most relevant first) against a random order.\n\n"
           "  --data SPEC      a dataset (celeba:DIR, utkface:DIR, adience:DIR, csv:FILE, folder:DIR)\n"
           "  --limit N        first N images (default 20)\n"
           "  --rules STRING   LRP rules (see explain --help; default preset=adience)\n"
           "  --target CLASS   predicted (default), a class name or index, or A-B\n"
           "  --patch P        region side in input pixels (default 9)\n"
           "  --steps L        regions removed (default 100)\n"
           "  --fill uniform|mean  replacement: uniform noise in the input range (default)\n"
           "                   or the image's channel mean\n"
           "  --rgb-only       4-channel models: keep the A(x,y) channel\n"
           "  --seed S         noise and random order (default 1)\n"
           "  --landmarks SRC  ert / cnn for 4-channel models (default: the model's method)\n"
           "  --json           one JSON object instead of the table\n"
           "  --shard K/N|slurm  the K-th of N blocks of the images, as JSON for 'traitscope-cli merge'\n"
           CLI_DEVICE_HELP);
}

/* The JSON after the images: the skips, the means of the AOPCs and of the
 * curves (sums over done_n images made in row order). */
static void flip_summary(cJSON *o, int skipped, int steps, int done_n, double sum_m, double sum_r, const double *cm,
                         const double *cr)
{
    cJSON_AddNumberToObject(o, "skipped", skipped);
    cJSON_AddNumberToObject(o, "steps", steps);
    cJSON_AddNumberToObject(o, "aopc_morf", sum_m / done_n);
    cJSON_AddNumberToObject(o, "aopc_random", sum_r / done_n);
    cJSON *a1 = cJSON_AddArrayToObject(o, "curve_morf"), *a2 = cJSON_AddArrayToObject(o, "curve_random");
    for (int k = 0; k <= steps; k++) {
        cJSON_AddItemToArray(a1, cJSON_CreateNumber(cm[k] / done_n));
        cJSON_AddItemToArray(a2, cJSON_CreateNumber(cr[k] / done_n));
    }
}

static cJSON *flip_head(const char *model, const char *data, const char *rules, int patch, const char *fill)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "data", data);
    cJSON_AddStringToObject(o, "rules", rules);
    cJSON_AddNumberToObject(o, "patch", patch);
    cJSON_AddStringToObject(o, "fill", fill);
    return o;
}

/* Exact (shard.h): merge sums these. */
static cJSON *float_array(const float *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cli_json_exact(v[i]));
    return a;
}

cJSON *cli_flip_merge(cJSON *const *shards, int n)
{
    const cJSON *s0 = shards[0];
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(s0, "model"), *dt = cJSON_GetObjectItemCaseSensitive(s0, "data");
    const cJSON *ru = cJSON_GetObjectItemCaseSensitive(s0, "rules"), *fi = cJSON_GetObjectItemCaseSensitive(s0, "fill");
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(s0, "patch"), *sp = cJSON_GetObjectItemCaseSensitive(s0, "steps");
    if (!cJSON_IsString(md) || !cJSON_IsString(dt) || !cJSON_IsString(ru) || !cJSON_IsString(fi) ||
        !cJSON_IsNumber(pa) || !cJSON_IsNumber(sp) || sp->valueint < 0 || sp->valueint > 1000000) {
        ts_error(TS_ERR_FORMAT, "flip shard 0: model, data, rules, patch, fill or steps missing");
        return NULL;
    }
    const int steps = sp->valueint;
    double *cm = calloc((size_t)steps + 1, sizeof *cm), *cr = calloc((size_t)steps + 1, sizeof *cr);
    cJSON *o = flip_head(md->valuestring, dt->valuestring, ru->valuestring, pa->valueint, fi->valuestring);
    cJSON *arr = cJSON_AddArrayToObject(o, "images");
    double sum_m = 0, sum_r = 0;
    int done_n = 0, skipped = 0;
    bool ok = cm && cr;
    for (int k = 0; ok && k < n; k++) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(shards[k], "steps");
        const cJSON *sk = cJSON_GetObjectItemCaseSensitive(shards[k], "skipped");
        if (!cJSON_IsNumber(st) || st->valueint != steps || !cJSON_IsNumber(sk) || sk->valueint < 0) {
            ts_error(TS_ERR_FORMAT, "flip shard %d: no skipped count, or other steps than shard 0", k);
            ok = false;
            break;
        }
        skipped += sk->valueint;
        const cJSON *e, *imgs = cJSON_GetObjectItemCaseSensitive(shards[k], "images");
        cJSON_ArrayForEach(e, imgs)
        {
            const cJSON *m1 = cJSON_GetObjectItemCaseSensitive(e, "curve_morf");
            const cJSON *r1 = cJSON_GetObjectItemCaseSensitive(e, "curve_random");
            const cJSON *am = cJSON_GetObjectItemCaseSensitive(e, "aopc_morf");
            const cJSON *ar = cJSON_GetObjectItemCaseSensitive(e, "aopc_random");
            if (!cJSON_IsNumber(am) || !cJSON_IsNumber(ar) || cJSON_GetArraySize(m1) != steps + 1 ||
                cJSON_GetArraySize(r1) != steps + 1) {
                ts_error(TS_ERR_FORMAT, "flip shard %d, image %d: aopc or curves missing", k, done_n);
                ok = false;
                break;
            }
            /* The same sums in the same order as the unsharded loop. */
            for (int q = 0; q <= steps; q++) {
                cm[q] += cli_json_value(cJSON_GetArrayItem(m1, q));
                cr[q] += cli_json_value(cJSON_GetArrayItem(r1, q));
            }
            sum_m += am->valuedouble;
            sum_r += ar->valuedouble;
            done_n++;
            cJSON *c = cJSON_Duplicate(e, true);
            cJSON_DeleteItemFromObjectCaseSensitive(c, "row");
            cJSON_DeleteItemFromObjectCaseSensitive(c, "curve_morf");
            cJSON_DeleteItemFromObjectCaseSensitive(c, "curve_random");
            cJSON_AddItemToArray(arr, c);
        }
    }
    if (ok && done_n == 0) {
        ts_error(TS_ERR_ARG, "flip: no shard has a usable image");
        ok = false;
    }
    if (ok) flip_summary(o, skipped, steps, done_n, sum_m, sum_r, cm, cr);
    else cJSON_Delete(o);
    free(cm);
    free(cr);
    return ok ? o : NULL;
}

int cmd_flip(int argc, char **argv)
{
    const char *model_path = NULL, *spec = NULL, *rules_spec = "", *target_s = "", *lm_src = NULL, *v;
    int limit = 20, seed = 1;
    bool json = false, rgb_only = false;
    ts_device device = TS_DEVICE_AUTO;
    ts_flip_opts fo = { 0 };
    cli_shard shard = { .on = false, .index = 0, .count = 1 };
    char why[256];
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) model_path = v;
        else if (cli_opt(argc, argv, &i, "--data", &v)) spec = v;
        else if (cli_opt(argc, argv, &i, "--rules", &v)) rules_spec = v;
        else if (cli_opt(argc, argv, &i, "--target", &v)) target_s = v;
        else if (cli_opt(argc, argv, &i, "--landmarks", &v)) lm_src = v;
        else if (cli_opt(argc, argv, &i, "--limit", &v)) {
            if (!cli_parse_int(v, &limit) || limit < 1)
                return cli_usage_error("flip", "--limit wants a number >= 1, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--patch", &v)) {
            if (!cli_parse_int(v, &fo.patch) || fo.patch < 1 || fo.patch > 1024)
                return cli_usage_error("flip", "--patch wants 1..1024, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--steps", &v)) {
            if (!cli_parse_int(v, &fo.steps) || fo.steps < 1 || fo.steps > 1000000)
                return cli_usage_error("flip", "--steps wants a number >= 1, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--seed", &v)) {
            if (!cli_parse_int(v, &seed)) return cli_usage_error("flip", "--seed wants an integer, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--fill", &v)) {
            if (!strcmp(v, "uniform")) fo.fill = TS_FLIP_UNIFORM;
            else if (!strcmp(v, "mean")) fo.fill = TS_FLIP_MEAN;
            else return cli_usage_error("flip", "--fill wants uniform or mean, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("flip", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--shard", &v)) {
            if (!cli_shard_parse(v, &shard, why, sizeof why)) return cli_usage_error("flip", "%s", why);
            json = true; /* a shard is for merge */
        } else if (cli_flag(argv, i, "--rgb-only")) rgb_only = true;
        else if (cli_flag(argv, i, "--json")) json = true;
        else return cli_usage_error("flip", "unknown argument '%s'", argv[i]);
    }
    if (!model_path || !spec) return cli_usage_error("flip", "--model MODEL and --data SPEC are required");
    fo.seed = (uint64_t)seed;
    const ts_backend *be;
    void *be_ctx;
    cli_backend_open("flip", device, &be, &be_ctx);

    ts_model *m = NULL;
    ts_dataset ds;
    ts_dataset_init(&ds);
    ts_landmarker *lmk = NULL;
    ts_explainer *ex = NULL;
    ts_points *pts = calloc(1, sizeof *pts);
    double *cm = NULL, *cr = NULL;
    cJSON *o = NULL, *arr = NULL;
    int done_n = 0, steps = 0;
    cli_skips skips;
    cli_skips_init(&skips, "flip");
    double sum_m = 0, sum_r = 0;
    ts_status st = pts ? ts_landmarker_new(lm_src, be, be_ctx, &lmk) : ts_error(TS_ERR_OOM, "out of memory");
    if (st == TS_OK) st = ts_explain_model_load(model_path, be, be_ctx, &m);
    if (st == TS_OK) st = ts_dataset_load(&ds, spec, limit);
    if (st == TS_OK && ds.n_rows == 0) st = ts_error(TS_ERR_ARG, "dataset '%s' has no images", spec);
    if (st == TS_OK) st = ts_explainer_new(m, rules_spec, target_s, &ex);
    int C = m ? m->meta.in_channels : 0;
    if (st == TS_OK) {
        /* the noise spans the model's input range, as the z-box bounds do */
        fo.channels = rgb_only && C > 3 ? 3 : 0;
        fo.n_bounds = C;
        for (int c = 0; c < C; c++) ts_model_input_range(m, c, &fo.low[c], &fo.high[c]);
    }
    ts_flip_opts_defaults(&fo);
    if (st == TS_OK) {
        cm = calloc((size_t)fo.steps + 1, sizeof(double));
        cr = calloc((size_t)fo.steps + 1, sizeof(double));
        if (!cm || !cr) st = ts_error(TS_ERR_OOM, "out of memory");
    }
    if (st != TS_OK) goto done;
    int lo, hi;
    cli_shard_range(&shard, ds.n_rows, &lo, &hi);
    if (json) {
        o = flip_head(model_path, spec, rules_spec, fo.patch, fo.fill == TS_FLIP_MEAN ? "mean" : "uniform");
        arr = cJSON_AddArrayToObject(o, "images");
    } else {
        printf("%-40s %-12s %10s %10s %10s\n", "image", "target", "f(x)", "AOPC MoRF", "AOPC rand");
    }
    for (int r = lo; r < hi && st == TS_OK; r++) {
        ts_image img = { 0 };
        bool have = false;
        ts_explanation x;
        ts_status ist = ts_image_load(ds.paths[r], &img);
        if (ist == TS_OK) ist = ts_landmarker_get(lmk, m, &img, pts, &have);
        if (ist == TS_OK) ist = ts_explainer_input(ex, &img, have ? pts : NULL, &x);
        ts_image_clear(&img);
        if (ist != TS_OK) {
            cli_skips_add(&skips, ds.paths[r], ts_last_error());
            continue;
        }
        ts_flip_curve curve;
        st = ts_explainer_explain(ex, NULL, NULL, &x);
        const ts_lrp_stats stats = x.stats;
        if (st == TS_OK) st = ts_flip_image(m->graph, &x.input, 0, x.heat, stats.a, &fo, &curve);
        ts_explanation_clear(&x);
        if (st != TS_OK) break;
        steps = curve.steps;
        for (int k = 0; k <= steps; k++) cm[k] += curve.morf[k], cr[k] += curve.random[k];
        sum_m += curve.aopc_morf;
        sum_r += curve.aopc_random;
        done_n++;
        if (json) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "image", ds.paths[r]);
            cJSON_AddStringToObject(e, "target", m->meta.classes[stats.a]);
            cJSON_AddNumberToObject(e, "score", curve.morf[0]);
            cJSON_AddNumberToObject(e, "aopc_morf", curve.aopc_morf);
            cJSON_AddNumberToObject(e, "aopc_random", curve.aopc_random);
            if (shard.on) {
                cJSON_ReplaceItemInObjectCaseSensitive(e, "aopc_morf", cli_json_exact(curve.aopc_morf));
                cJSON_ReplaceItemInObjectCaseSensitive(e, "aopc_random", cli_json_exact(curve.aopc_random));
                cJSON_ReplaceItemInObjectCaseSensitive(e, "score", cli_json_exact(curve.morf[0]));
                cJSON_AddNumberToObject(e, "row", r);
                cJSON_AddItemToObject(e, "curve_morf", float_array(curve.morf, curve.steps + 1));
                cJSON_AddItemToObject(e, "curve_random", float_array(curve.random, curve.steps + 1));
            }
            cJSON_AddItemToArray(arr, e);
        } else {
            const char *base = strrchr(ds.paths[r], '/');
            char *eb = ts_text_escape(base ? base + 1 : ds.paths[r]);
            printf("%-40.40s %-12.12s %10.4f %10.4f %10.4f\n", eb ? eb : "?", m->meta.classes[stats.a], curve.morf[0],
                   curve.aopc_morf, curve.aopc_random);
            free(eb);
            fflush(stdout);
        }
        ts_flip_curve_clear(&curve);
    }
    if (st != TS_OK) goto done;
    cli_skips_done(&skips, hi - lo);
    if (!done_n) {
        st = ts_error(TS_ERR_IO, "no image of '%s' could be used (%d skipped)", spec, skips.n);
        goto done;
    }
    if (json) {
        flip_summary(o, skips.n, steps, done_n, sum_m, sum_r, cm, cr);
        if (shard.on) cli_shard_json(o, &shard, "flip", ds.n_rows, lo, hi);
        if (cli_print_json(o, false) != CMD_OK) st = ts_error(TS_ERR_OOM, "out of memory printing JSON");
    } else {
        printf("mean over %d image(s), %d steps of %dx%d patches: AOPC MoRF %.4f, random %.4f\n", done_n, steps,
               fo.patch, fo.patch, sum_m / done_n, sum_r / done_n);
    }
done:
    cJSON_Delete(o);
    ts_explainer_free(ex);
    ts_model_free(m);
    ts_dataset_clear(&ds);
    ts_landmarker_free(lmk);
    ts_backend_close(be, be_ctx);
    free(pts);
    free(cm);
    free(cr);
    if (st != TS_OK) return cli_fail("flip", st);
    return skips.n ? CMD_FAIL : CMD_OK;
}
