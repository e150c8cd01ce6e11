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
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data/dataset.h"
#include "explain-common.h"
#include "explain/aopc.h"
#include "explain/lrp.h"
#include "nn/safetext.h"

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
           CLI_DEVICE_HELP);
}

int cmd_flip(int argc, char **argv)
{
    const char *model_path = NULL, *spec = NULL, *rules_spec = "", *target_s = "", *lm_src = NULL, *v;
    int limit = 20, seed = 1;
    bool json = false, rgb_only = false;
    ts_device device = TS_DEVICE_AUTO;
    ts_flip_opts fo = { 0 };
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
    ts_lrp_rules rules = { 0 };
    ts_lrp *lrp = NULL;
    xc_landmarker *lmk = xc_landmarker_new(lm_src, be, be_ctx);
    ts_points *pts = calloc(1, sizeof *pts);
    float *in_buf = NULL, *rel_buf = NULL, *heat = NULL;
    double *cm = NULL, *cr = NULL;
    cJSON *o = NULL, *arr = NULL;
    int done_n = 0, steps = 0;
    cli_skips skips;
    cli_skips_init(&skips, "flip");
    double sum_m = 0, sum_r = 0;
    ts_status st = lmk && pts ? TS_OK : ts_error(TS_ERR_OOM, "out of memory");
    if (st == TS_OK) st = xc_model_load(model_path, be, be_ctx, &m);
    if (st == TS_OK) st = ts_dataset_load(&ds, spec, limit);
    if (st == TS_OK && ds.n_rows == 0) st = ts_error(TS_ERR_ARG, "dataset '%s' has no images", spec);
    if (st == TS_OK) st = ts_lrp_rules_parse(m->graph, rules_spec, &rules);
    int S = m ? m->meta.in_size : 0, C = m ? m->meta.in_channels : 0;
    if (st == TS_OK) {
        fo.channels = rgb_only && C > 3 ? 3 : 0;
        fo.n_bounds = C;
        for (int c = 0; c < C; c++) {
            xc_bounds(m, c, &fo.low[c], &fo.high[c]);
            ts_lrp_rules_set_bounds(&rules, c, fo.low[c], fo.high[c]);
        }
    }
    ts_lrp_target target;
    if (st == TS_OK)
        st = ts_lrp_target_for_model(m, target_s, &target);
    if (st == TS_OK) st = ts_lrp_new(m->graph, &rules, &lrp);
    size_t per = (size_t)C * S * S, hw = (size_t)S * S;
    ts_flip_opts_defaults(&fo);
    if (st == TS_OK) {
        in_buf = malloc(per * sizeof(float));
        rel_buf = malloc(per * sizeof(float));
        heat = malloc(hw * sizeof(float));
        cm = calloc((size_t)fo.steps + 1, sizeof(double));
        cr = calloc((size_t)fo.steps + 1, sizeof(double));
        if (!in_buf || !rel_buf || !heat || !cm || !cr) st = ts_error(TS_ERR_OOM, "out of memory");
    }
    if (st != TS_OK) goto done;
    if (json) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", model_path);
        cJSON_AddStringToObject(o, "data", spec);
        cJSON_AddStringToObject(o, "rules", rules_spec);
        cJSON_AddNumberToObject(o, "patch", fo.patch);
        cJSON_AddStringToObject(o, "fill", fo.fill == TS_FLIP_MEAN ? "mean" : "uniform");
        arr = cJSON_AddArrayToObject(o, "images");
    } else {
        printf("%-40s %-12s %10s %10s %10s\n", "image", "target", "f(x)", "AOPC MoRF", "AOPC rand");
    }
    for (int r = 0; r < ds.n_rows && st == TS_OK; r++) {
        ts_image img = { 0 };
        bool have = false;
        ts_tensor x = { in_buf, 1, C, S, S }, rel = { rel_buf, 1, C, S, S };
        ts_lrp_stats stats;
        ts_status ist = ts_image_load(ds.paths[r], &img);
        if (ist == TS_OK) ist = xc_landmarks(lmk, m, &img, pts, &have);
        if (ist == TS_OK) ist = xc_input(m, &img, have ? pts : NULL, &x);
        ts_image_clear(&img);
        if (ist != TS_OK) {
            cli_skips_add(&skips, ds.paths[r], ts_last_error());
            continue;
        }
        ts_flip_curve curve;
        st = ts_lrp_explain(lrp, &x, &target, 1, &rel, &stats);
        if (st != TS_OK) break;
        ts_lrp_heatmap(&rel, 0, 0, C < 3 ? C : 3, heat);
        st = ts_flip_image(m->graph, &x, 0, heat, stats.a, &fo, &curve);
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
    cli_skips_done(&skips, ds.n_rows);
    if (!done_n) {
        st = ts_error(TS_ERR_IO, "no image of '%s' could be used (%d skipped)", spec, skips.n);
        goto done;
    }
    if (json) {
        cJSON_AddNumberToObject(o, "skipped", skips.n);
        cJSON_AddNumberToObject(o, "steps", steps);
        cJSON_AddNumberToObject(o, "aopc_morf", sum_m / done_n);
        cJSON_AddNumberToObject(o, "aopc_random", sum_r / done_n);
        cJSON *a1 = cJSON_AddArrayToObject(o, "curve_morf"), *a2 = cJSON_AddArrayToObject(o, "curve_random");
        for (int k = 0; k <= steps; k++) {
            cJSON_AddItemToArray(a1, cJSON_CreateNumber(cm[k] / done_n));
            cJSON_AddItemToArray(a2, cJSON_CreateNumber(cr[k] / done_n));
        }
        if (cli_print_json(o, false) != CMD_OK) st = ts_error(TS_ERR_OOM, "out of memory printing JSON");
    } else {
        printf("mean over %d image(s), %d steps of %dx%d patches: AOPC MoRF %.4f, random %.4f\n", done_n, steps,
               fo.patch, fo.patch, sum_m / done_n, sum_r / done_n);
    }
done:
    cJSON_Delete(o);
    ts_lrp_free(lrp);
    ts_lrp_rules_clear(&rules);
    ts_model_free(m);
    ts_dataset_clear(&ds);
    xc_landmarker_free(lmk);
    ts_backend_close(be, be_ctx);
    free(pts);
    free(in_buf);
    free(rel_buf);
    free(heat);
    free(cm);
    free(cr);
    if (st != TS_OK) return cli_fail("flip", st);
    return skips.n ? CMD_FAIL : CMD_OK;
}
