/* cmd-explain.c - `traitscope-cli explain --model MODEL IMAGE ...`: an LRP
 * heatmap of one face crop (src/explain/lrp.h; section 4.1 of the Adience
 * LRP paper) with its numbers.
 *
 * The relevance of the input is summed over R, G, B for the heatmap (as the
 * paper does) and drawn with the diverging colour map (colormap.h: red for
 * the target, blue against, white 0, symmetric scale) at the model's input
 * resolution magnified by --zoom, with a colour bar and its +-scale.  The
 * PNG carries tEXt chunks "traitscope:lrp-rules" (the string as given),
 * "traitscope:lrp-rules-applied" (per layer) and "traitscope:target".
 * --relevance writes the full input relevance (1,C,S,S) as .npy.
 *
 * --json prints one object (a contract):
 *   {"image","model","rules","rules_applied","target","target_index",
 *    "minus","minus_index" (null/-1 unless --target A-B),
 *    "logit" (the explained quantity), "relevance_sum", "conservation"
 *    (relevance_sum / logit), "negative_share" (sum|R<0| / sum|R|),
 *    "scale" (colour scale), "channels":[{"name","sum","abs_share"}],
 *    "rgb_abs_share", "amap_abs_share" (4-channel models; else null),
 *    "regions":[{"landmark","part","sum","share","abs_share"}] (68, when
 *    landmarks are known), "parts":{"jaw":{"sum","share","abs_share"},..}}
 * Regions are the cells of A(x,y) in the model's input frame, pooled from
 * the RGB heatmap; "share" is a cell's sum over the heatmap's total (the
 * cells' shares add up to 1), "abs_share" the same for |R|.
 *
 * Over a dataset (--data SPEC instead of IMAGE; --limit N rows): every
 * image is explained the same way and one JSON object is printed,
 *   {"model","data","rules","rules_applied","target" (as asked, or
 *    "predicted"),"images":[{"image","row","target","target_index","logit",
 *    "relevance_sum","conservation","negative_share","rgb_abs_share",
 *    "amap_abs_share"|null,"parts":{part:{"sum","share","abs_share"}}|null}],
 *    "n_images","skipped","mean":{"conservation","negative_share",
 *    "rgb_abs_share","amap_abs_share"|null,"parts":{part:{"share",
 *    "abs_share"}}|null}}
 * ("mean" over the images, in row order; parts over those with landmarks).
 * --out-dir DIR writes each heatmap as DIR/ROW.png (row = dataset row, six
 * digits).  Unreadable images are reported on stderr and skipped (exit 1
 * after the JSON).  --shard K/N (or slurm; cli/shard.h) explains block K of
 * N and adds "shard"; `traitscope-cli merge` of all N rebuilds "mean" from
 * the images in row order and prints the unsharded JSON.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "nn/safetext.h"
#include "explain/colormap.h"
#include "explain/explain.h"
#include "explain/export.h"
#include "explain/lrp.h"
#include "data/dataset.h"
#include "cli/shard.h"

static void help(void)
{
    printf("usage: traitscope-cli explain --model MODEL IMAGE [--rules STRING] [--target CLASS]\n"
           "                              [--out HEAT.png] [--relevance R.npy] [--json]\n"
           "       traitscope-cli explain --model MODEL --data SPEC [--limit N] [--out-dir DIR]\n"
           "                              [--rules STRING] [--target CLASS] [--shard K/N|slurm]\n\n"
           "LRP heatmap of one face crop, or of every image of a dataset (JSON: per image and\n"
           "the means over them; --out-dir writes the heatmaps as DIR/ROW.png; --shard K/N\n"
           "explains the K-th of N blocks for 'traitscope-cli merge').\n\n"
           "  --rules STRING     LRP rules, e.g. \"preset=adience;conv1=zbox;fc*=epsilon:0.01\"\n"
           "                     presets: adience (default: epsilon 0.01 on fc, alpha=2 beta=1\n"
           "                     on conv), adience-a1b0, epsilon, lrp0, composite; rules:\n"
           "                     epsilon[:E] lrp0 alphabeta[:A,B[,bias]] flat wsquare zbox;\n"
           "                     selectors: a layer name glob, @conv, @fc, @all, @first\n"
           "  --target CLASS     predicted (default), a class name or index, or A-B; for a\n"
           "                     multi-label model TRAIT (its predicted class) or TRAIT=CLASS\n"
           "  --out HEAT.png     the heatmap (relevance summed over R, G, B)\n"
           "  --out-amap A.png   4-channel models: the heatmap of the A(x,y) channel\n"
           "  --relevance R.npy  the full input relevance (1,C,S,S) as float32 .npy\n"
           "  --json             numbers as one JSON object\n"
           "  --landmarks SRC    a landmarks JSON file, or ert / cnn to locate them; needed\n"
           "                     by 4-channel models (default: the model's method) and for\n"
           "                     the per-region table\n"
           "  --zoom N           magnify the heatmap N times (default: to >= 300 pixels)\n"
           "  --scale S          fixed colour scale (default max |R|)\n"
           CLI_DEVICE_HELP);
}

/* Heatmap (s x s) magnified with a colour bar and its scale on the right. */
static ts_status draw_heat(const float *heat, int s, int zoom, float scale, ts_image *out, float *used)
{
    ts_image small = { 0 };
    TS_TRY(ts_colormap_relevance(heat, s, s, scale, &small, used));
    int hw = s * zoom, bar_x = hw + 8, w = hw + 8 + 14 + 6 + 40;
    ts_status st = ts_image_init(out, w, hw);
    if (st != TS_OK) {
        ts_image_clear(&small);
        return st;
    }
    for (int y = 0; y < hw; y++) {
        memset(ts_image_pixel(out, 0, y), 255, (size_t)w * 3);
        for (int x = 0; x < hw; x++) memcpy(ts_image_pixel(out, x, y), ts_image_pixel(&small, x / zoom, y / zoom), 3);
    }
    ts_image_clear(&small);
    ts_colorbar_draw(out, bar_x, 0, 14, hw, TS_CMAP_DIVERGING, true);
    char lab[32];
    const uint8_t ink[3] = { 0, 0, 0 };
    snprintf(lab, sizeof lab, "+%.2g", *used);
    ts_image_draw_number(out, bar_x + 18, 0, lab, 1, ink);
    ts_image_draw_number(out, bar_x + 18, hw / 2 - 3, "0", 1, ink);
    snprintf(lab, sizeof lab, "-%.2g", *used);
    ts_image_draw_number(out, bar_x + 18, hw - 6, lab, 1, ink);
    return TS_OK;
}

static ts_status save_heat(const char *path, const float *heat, int s, int zoom, float scale,
                           const char *spec, const char *applied, const char *target, float *used)
{
    ts_image img = { 0 };
    TS_TRY(draw_heat(heat, s, zoom, scale, &img, used));
    ts_status st = ts_image_save_png(path, &img);
    ts_image_clear(&img);
    const char *keys[3] = { "traitscope:lrp-rules", "traitscope:lrp-rules-applied", "traitscope:target" };
    const char *vals[3] = { spec, applied, target };
    if (st == TS_OK) st = ts_png_add_text(path, 3, keys, vals);
    return st;
}

#define share ts_explain_share

/* ---- over a dataset ------------------------------------------------------ */

/* mkdir -p */
static bool make_dirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

static double jnum(const cJSON *o, const char *k)
{
    return cli_json_value(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* "mean" from the per-image records, in their order: what the command and
 * merge both compute, from the same numbers. */
static cJSON *explain_mean(const cJSON *images, bool amap)
{
    double cons = 0, neg = 0, rgb = 0, am = 0, psh[TS_PART_COUNT] = { 0 }, pab[TS_PART_COUNT] = { 0 };
    int n = 0, np = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, images)
    {
        cons += jnum(e, "conservation");
        neg += jnum(e, "negative_share");
        rgb += jnum(e, "rgb_abs_share");
        am += jnum(e, "amap_abs_share");
        n++;
        const cJSON *parts = cJSON_GetObjectItemCaseSensitive(e, "parts");
        if (!cJSON_IsObject(parts)) continue;
        for (int p = 0; p < TS_PART_COUNT; p++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(parts, ts_part_name((ts_face_part)p));
            psh[p] += jnum(x, "share");
            pab[p] += jnum(x, "abs_share");
        }
        np++;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "conservation", n ? cons / n : 0);
    cJSON_AddNumberToObject(m, "negative_share", n ? neg / n : 0);
    cJSON_AddNumberToObject(m, "rgb_abs_share", n ? rgb / n : 0);
    if (amap) cJSON_AddNumberToObject(m, "amap_abs_share", n ? am / n : 0);
    else cJSON_AddNullToObject(m, "amap_abs_share");
    if (np) {
        cJSON *pj = cJSON_AddObjectToObject(m, "parts");
        for (int p = 0; p < TS_PART_COUNT; p++) {
            cJSON *x = cJSON_AddObjectToObject(pj, ts_part_name((ts_face_part)p));
            cJSON_AddNumberToObject(x, "share", psh[p] / np);
            cJSON_AddNumberToObject(x, "abs_share", pab[p] / np);
        }
    } else {
        cJSON_AddNullToObject(m, "parts");
    }
    return m;
}

static cJSON *explain_head(const char *model, const char *data, const char *rules, const char *applied,
                           const char *target)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "data", data);
    cJSON_AddStringToObject(o, "rules", rules);
    cJSON_AddStringToObject(o, "rules_applied", applied);
    cJSON_AddStringToObject(o, "target", target && *target ? target : "predicted");
    return o;
}

/* The tail after "images": counts and the means. */
static void explain_tail(cJSON *o, int skipped, bool amap)
{
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(o, "images");
    cJSON_AddNumberToObject(o, "n_images", cJSON_GetArraySize(images));
    cJSON_AddNumberToObject(o, "skipped", skipped);
    cJSON_AddItemToObject(o, "mean", explain_mean(images, amap));
}

cJSON *cli_explain_merge(cJSON *const *shards, int n)
{
    const cJSON *s0 = shards[0];
    const char *k[5] = { "model", "data", "rules", "rules_applied", "target" };
    const char *v[5];
    for (int i = 0; i < 5; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(s0, k[i]);
        if (!cJSON_IsString(x)) {
            ts_error(TS_ERR_FORMAT, "explain shard 0: no \"%s\"", k[i]);
            return NULL;
        }
        v[i] = x->valuestring;
    }
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(s0, "mean");
    bool amap = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(mean, "amap_abs_share"));
    cJSON *o = explain_head(v[0], v[1], v[2], v[3], v[4]);
    cJSON *all = cJSON_AddArrayToObject(o, "images");
    int skipped = 0;
    for (int s = 0; s < n; s++) {
        const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(shards[s], "images");
        const cJSON *sk = cJSON_GetObjectItemCaseSensitive(shards[s], "skipped");
        if (!cJSON_IsArray(imgs) || !cJSON_IsNumber(sk)) {
            ts_error(TS_ERR_FORMAT, "explain shard %d: no images or skipped", s);
            cJSON_Delete(o);
            return NULL;
        }
        skipped += sk->valueint;
        const cJSON *e;
        cJSON_ArrayForEach(e, imgs) cJSON_AddItemToArray(all, cJSON_Duplicate(e, true));
    }
    explain_tail(o, skipped, amap);
    return o;
}

/* One image's record (the fields of the single-image JSON that a dataset
 * summary needs), and its heatmap into out_dir when given. */
static ts_status explain_row(ts_explainer *ex, ts_landmarker *lmk, ts_model *m, const char *path, int row,
                             const char *out_dir, const char *rules_spec, bool exact, cJSON **rec, bool *fatal)
{
    *fatal = false;
    ts_image img = { 0 };
    ts_points pts = { 0 };
    bool have = false;
    ts_explanation x = { 0 };
    ts_status st = ts_image_load(path, &img);
    if (st == TS_OK) st = ts_landmarker_get(lmk, m, &img, &pts, &have);
    if (st == TS_OK) st = ts_explainer_run(ex, &img, have ? &pts : NULL, &x);
    if (st == TS_OK && out_dir) {
        char file[4200], tdesc[256];
        snprintf(file, sizeof file, "%s/%06d.png", out_dir, row);
        ts_lrp_target_describe(m, &x.stats, tdesc, sizeof tdesc);
        float used;
        st = save_heat(file, x.heat, x.S, x.S >= 300 ? 1 : (300 + x.S - 1) / x.S, 0, rules_spec,
                       ts_explainer_rules_applied(ex), tdesc, &used);
        *fatal = st != TS_OK; /* the output, not the image */
    }
    if (st == TS_ERR_OOM) *fatal = true;
    if (st == TS_OK) {
        double rgb_abs = 0;
        for (int c = 0; c < x.C && c < 3; c++) rgb_abs += x.channel_abs[c];
        /* A shard's numbers go out exactly (shard.h): merge sums them. */
#define NUM(obj, key, val) cJSON_AddItemToObject(obj, key, exact ? cli_json_exact(val) : cJSON_CreateNumber(val))
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "image", path);
        cJSON_AddNumberToObject(e, "row", row);
        cJSON_AddStringToObject(e, "target", m->meta.classes[x.stats.a]);
        cJSON_AddNumberToObject(e, "target_index", x.stats.a);
        NUM(e, "logit", x.stats.logit);
        NUM(e, "relevance_sum", x.stats.relevance_sum);
        NUM(e, "conservation", share(x.stats.relevance_sum, x.stats.logit));
        NUM(e, "negative_share", x.stats.negative_share);
        NUM(e, "rgb_abs_share", share(rgb_abs, x.abs_total));
        if (x.C > 3) NUM(e, "amap_abs_share", share(x.channel_abs[3], x.abs_total));
        else cJSON_AddNullToObject(e, "amap_abs_share");
        if (x.regions) {
            cJSON *pj = cJSON_AddObjectToObject(e, "parts");
            for (int p = 0; p < TS_PART_COUNT; p++) {
                cJSON *q = cJSON_AddObjectToObject(pj, ts_part_name((ts_face_part)p));
                NUM(q, "sum", x.part_sum[p]);
                NUM(q, "share", share(x.part_sum[p], x.heat_sum));
                NUM(q, "abs_share", share(x.part_abs[p], x.heat_abs));
            }
#undef NUM
        } else {
            cJSON_AddNullToObject(e, "parts");
        }
        *rec = e;
    }
    ts_explanation_clear(&x);
    ts_image_clear(&img);
    return st;
}

static int explain_dataset(const char *model_path, const char *spec, int limit, const char *rules_spec,
                           const char *target_s, const char *lm_src, const char *out_dir, const cli_shard *shard,
                           ts_device device)
{
    const ts_backend *be;
    void *be_ctx;
    cli_backend_open("explain", device, &be, &be_ctx);
    ts_model *m = NULL;
    ts_dataset ds;
    ts_dataset_init(&ds);
    ts_landmarker *lmk = NULL;
    ts_explainer *ex = NULL;
    cJSON *o = NULL;
    cli_skips skips;
    cli_skips_init(&skips, "explain");
    ts_status st = ts_landmarker_new(lm_src, be, be_ctx, &lmk);
    if (st == TS_OK) st = ts_explain_model_load(model_path, be, be_ctx, &m);
    if (st == TS_OK) st = ts_dataset_load(&ds, spec, limit);
    if (st == TS_OK && ds.n_rows == 0) st = ts_error(TS_ERR_ARG, "dataset '%s' has no images", spec);
    if (st == TS_OK) st = ts_explainer_new(m, rules_spec, target_s, &ex);
    if (st == TS_OK && out_dir && !make_dirs(out_dir))
        st = ts_error(TS_ERR_IO, "%s: cannot create the folder: %s", out_dir, strerror(errno));
    if (st == TS_OK) {
        o = explain_head(model_path, spec, rules_spec, ts_explainer_rules_applied(ex), target_s);
        cJSON *arr = cJSON_AddArrayToObject(o, "images");
        int lo, hi;
        cli_shard_range(shard, ds.n_rows, &lo, &hi);
        for (int r = lo; r < hi && st == TS_OK; r++) {
            cJSON *rec = NULL;
            bool fatal;
            ts_status ist = explain_row(ex, lmk, m, ds.paths[r], r, out_dir, rules_spec, shard->on, &rec, &fatal);
            if (ist == TS_OK) {
                cJSON_AddItemToArray(arr, rec);
            } else if (fatal) {
                st = ist; /* out of memory, or a heatmap that cannot be written */
            } else {
                cli_skips_add(&skips, ds.paths[r], ts_last_error());
            }
        }
        if (st == TS_OK) {
            cli_skips_done(&skips, hi - lo);
            explain_tail(o, skips.n, m->meta.in_channels > 3);
            if (shard->on) cli_shard_json(o, shard, "explain", ds.n_rows, lo, hi);
            if (cli_print_json(o, false) != CMD_OK) st = ts_error(TS_ERR_OOM, "out of memory printing JSON");
        }
    }
    cJSON_Delete(o);
    ts_explainer_free(ex);
    ts_model_free(m);
    ts_dataset_clear(&ds);
    ts_landmarker_free(lmk);
    ts_backend_close(be, be_ctx);
    if (st != TS_OK) return cli_fail("explain", st);
    return skips.n ? CMD_FAIL : CMD_OK;
}

int cmd_explain(int argc, char **argv)
{
    const char *model_path = NULL, *image_path = NULL, *rules_spec = "", *target_s = "";
    const char *out_path = NULL, *out_amap = NULL, *npy_path = NULL, *lm_src = NULL, *v;
    const char *data_spec = NULL, *out_dir = NULL;
    int limit = 0;
    cli_shard shard = { .on = false, .index = 0, .count = 1 };
    char why[256];
    bool json = false;
    ts_device device = TS_DEVICE_AUTO;
    int zoom = 0;
    float fixed_scale = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) model_path = v;
        else if (cli_opt(argc, argv, &i, "--rules", &v)) rules_spec = v;
        else if (cli_opt(argc, argv, &i, "--target", &v)) target_s = v;
        else if (cli_opt(argc, argv, &i, "--out", &v)) out_path = v;
        else if (cli_opt(argc, argv, &i, "--out-amap", &v)) out_amap = v;
        else if (cli_opt(argc, argv, &i, "--relevance", &v)) npy_path = v;
        else if (cli_opt(argc, argv, &i, "--landmarks", &v)) lm_src = v;
        else if (cli_opt(argc, argv, &i, "--data", &v)) data_spec = v;
        else if (cli_opt(argc, argv, &i, "--out-dir", &v)) out_dir = v;
        else if (cli_opt(argc, argv, &i, "--limit", &v)) {
            if (!cli_parse_int(v, &limit) || limit < 1)
                return cli_usage_error("explain", "--limit wants a number >= 1, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--shard", &v)) {
            if (!cli_shard_parse(v, &shard, why, sizeof why)) return cli_usage_error("explain", "%s", why);
        }
        else if (cli_opt(argc, argv, &i, "--zoom", &v)) {
            if (!cli_parse_int(v, &zoom) || zoom < 1 || zoom > 32)
                return cli_usage_error("explain", "--zoom wants 1..32, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--scale", &v)) {
            if (!cli_parse_float(v, &fixed_scale) || !(fixed_scale > 0))
                return cli_usage_error("explain", "--scale wants a number > 0, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("explain", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (cli_flag(argv, i, "--json")) json = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error("explain", "unknown option '%s'", argv[i]);
        else if (image_path)
            return cli_usage_error("explain", "one IMAGE only ('%s' and '%s')", image_path, argv[i]);
        else image_path = argv[i];
    }
    if (data_spec) {
        if (!model_path || image_path || out_path || out_amap || npy_path)
            return cli_usage_error("explain", "--data takes --model and no IMAGE, --out, --out-amap or --relevance "
                                              "(use --out-dir for the heatmaps)");
        return explain_dataset(model_path, data_spec, limit, rules_spec, target_s, lm_src, out_dir, &shard, device);
    }
    if (shard.on || out_dir || limit) return cli_usage_error("explain", "--shard, --out-dir and --limit go with --data");
    if (!model_path || !image_path)
        return cli_usage_error("explain", "--model MODEL and an IMAGE are required");
    if (!out_path && !npy_path && !json && !out_amap)
        return cli_usage_error("explain", "nothing to write: give --out, --relevance or --json");
    const char *outs[3] = { out_path, out_amap, npy_path }, *ins[3] = { model_path, image_path, lm_src };
    int refused = cli_refuse_overwrite("explain", outs, 3, ins, 3);
    if (refused) return refused;
    /* the forward pass and LRP run on the GPU when there is one
     * (explain/lrp.c through the backend table) */
    const ts_backend *be;
    void *be_ctx;
    cli_backend_open("explain", device, &be, &be_ctx);

    ts_model *m = NULL;
    ts_image img = { 0 };
    ts_landmarker *lmk = NULL;
    ts_explainer *ex = NULL;
    ts_explanation x = { 0 };
    ts_points *pts = calloc(1, sizeof *pts);
    cJSON *o = NULL;
    bool have_pts = false;
    ts_status st = pts ? ts_landmarker_new(lm_src, be, be_ctx, &lmk) : ts_error(TS_ERR_OOM, "out of memory");
    if (st == TS_OK) st = ts_explain_model_load(model_path, be, be_ctx, &m);
    if (st == TS_OK) st = ts_image_load(image_path, &img);
    if (st == TS_OK) st = ts_landmarker_get(lmk, m, &img, pts, &have_pts);
    if (st == TS_OK) st = ts_explainer_new(m, rules_spec, target_s, &ex);
    if (st == TS_OK) st = ts_explainer_run(ex, &img, have_pts ? pts : NULL, &x);
    if (st != TS_OK) goto done;

    const int S = x.S, C = x.C;
    const size_t hw = (size_t)S * S;
    const ts_lrp_stats stats = x.stats;
    const char *applied = ts_explainer_rules_applied(ex);
    char tdesc[256], tname[256];
    ts_lrp_target_describe(m, &stats, tdesc, sizeof tdesc);
    /* the target alone (the contrast's other side is "minus") */
    snprintf(tname, sizeof tname, "%s", tdesc);
    if (stats.b >= 0) snprintf(tname, sizeof tname, "%s", m->meta.classes[stats.a]);
    if (!zoom) zoom = S >= 300 ? 1 : (300 + S - 1) / S;
    float scale_used = 0, scale_a = 0;
    if (out_path)
        st = save_heat(out_path, x.heat, S, zoom, fixed_scale, rules_spec, applied, tdesc, &scale_used);
    else
        for (size_t q = 0; q < hw; q++) scale_used = fmaxf(scale_used, fabsf(x.heat[q]));
    if (st == TS_OK && out_amap) {
        if (C < 4) st = ts_error(TS_ERR_ARG, "--out-amap: model '%s' has no A(x,y) channel", model_path);
        else st = save_heat(out_amap, x.heat_amap, S, zoom, fixed_scale, rules_spec, applied, tdesc, &scale_a);
    }
    if (st == TS_OK && npy_path) st = ts_npy_save(npy_path, x.relevance.data, 4, (int[]){ 1, C, S, S });
    if (st != TS_OK) goto done;

    const double *sums = x.channel_sum, *abs_sums = x.channel_abs, abs_total = x.abs_total;
    static const char *const ch_names[4] = { "R", "G", "B", "A" };
    const double *cells = x.cell_sum, *cells_abs = x.cell_abs, heat_sum = x.heat_sum, heat_abs = x.heat_abs;
    const double *parts = x.part_sum, *parts_abs = x.part_abs;
    double rgb_abs = 0;
    for (int c = 0; c < C && c < 3; c++) rgb_abs += abs_sums[c];
    double ms = x.ms;

    if (json) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "image", image_path);
        cJSON_AddStringToObject(o, "model", model_path);
        cJSON_AddStringToObject(o, "rules", rules_spec);
        cJSON_AddStringToObject(o, "rules_applied", applied);
        cJSON_AddStringToObject(o, "target", tname);
        cJSON_AddNumberToObject(o, "target_index", stats.a);
        if (stats.b >= 0) cJSON_AddStringToObject(o, "minus", m->meta.classes[stats.b]);
        else cJSON_AddNullToObject(o, "minus");
        cJSON_AddNumberToObject(o, "minus_index", stats.b);
        cJSON_AddNumberToObject(o, "logit", stats.logit);
        cJSON_AddNumberToObject(o, "relevance_sum", stats.relevance_sum);
        cJSON_AddNumberToObject(o, "conservation", share(stats.relevance_sum, stats.logit));
        cJSON_AddNumberToObject(o, "negative_share", stats.negative_share);
        cJSON_AddNumberToObject(o, "scale", scale_used);
        cJSON_AddNumberToObject(o, "ms", ms);
        cJSON *chs = cJSON_AddArrayToObject(o, "channels");
        for (int c = 0; c < C; c++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", c < 4 ? ch_names[c] : "?");
            cJSON_AddNumberToObject(e, "sum", sums[c]);
            cJSON_AddNumberToObject(e, "abs_share", share(abs_sums[c], abs_total));
            cJSON_AddItemToArray(chs, e);
        }
        cJSON_AddNumberToObject(o, "rgb_abs_share", share(rgb_abs, abs_total));
        if (C > 3) cJSON_AddNumberToObject(o, "amap_abs_share", share(abs_sums[3], abs_total));
        else cJSON_AddNullToObject(o, "amap_abs_share");
        if (x.regions) {
            cJSON *rg = cJSON_AddArrayToObject(o, "regions");
            for (int k = 0; k < TS_LANDMARKS; k++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "landmark", k);
                cJSON_AddStringToObject(e, "part", ts_part_name(ts_part_of_landmark(k)));
                cJSON_AddNumberToObject(e, "sum", cells[k]);
                cJSON_AddNumberToObject(e, "share", share(cells[k], heat_sum));
                cJSON_AddNumberToObject(e, "abs_share", share(cells_abs[k], heat_abs));
                cJSON_AddItemToArray(rg, e);
            }
            cJSON *pj = cJSON_AddObjectToObject(o, "parts");
            for (int p = 0; p < TS_PART_COUNT; p++) {
                cJSON *e = cJSON_AddObjectToObject(pj, ts_part_name((ts_face_part)p));
                cJSON_AddNumberToObject(e, "sum", parts[p]);
                cJSON_AddNumberToObject(e, "share", share(parts[p], heat_sum));
                cJSON_AddNumberToObject(e, "abs_share", share(parts_abs[p], heat_abs));
            }
        } else {
            cJSON_AddNullToObject(o, "regions");
            cJSON_AddNullToObject(o, "parts");
        }
        if (cli_print_json(o, false) != CMD_OK) {
            st = ts_error(TS_ERR_OOM, "out of memory printing JSON");
            goto done;
        }
    } else {
        printf("target          %s (logit %.6g)\n", tdesc, stats.logit);
        printf("rules           %s\n", applied);
        printf("relevance sum   %.6g (%.4f of the logit), negative share %.4f\n", stats.relevance_sum,
               share(stats.relevance_sum, stats.logit), stats.negative_share);
        printf("channels        ");
        for (int c = 0; c < C; c++) printf("%s %.4f  ", c < 4 ? ch_names[c] : "?", share(abs_sums[c], abs_total));
        printf("(share of |R|)\n");
        if (x.regions) {
            printf("%-12s %12s %8s %9s\n", "part", "sum", "share", "|R| share");
            for (int p = 0; p < TS_PART_COUNT; p++)
                printf("%-12s %12.5g %8.4f %9.4f\n", ts_part_name((ts_face_part)p), parts[p],
                       share(parts[p], heat_sum), share(parts_abs[p], heat_abs));
        }
        if (out_path) {
            char *e = ts_text_escape(out_path);
            printf("heatmap         %s (scale +-%.3g)\n", e ? e : "?", scale_used);
            free(e);
        }
    }
done:
    cJSON_Delete(o);
    ts_explanation_clear(&x);
    ts_explainer_free(ex);
    ts_model_free(m);
    ts_image_clear(&img);
    ts_landmarker_free(lmk);
    ts_backend_close(be, be_ctx);
    free(pts);
    return st == TS_OK ? CMD_OK : cli_fail("explain", st);
}
