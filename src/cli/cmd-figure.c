/* cmd-figure.c - `traitscope-cli figure`: the explorer's panels for one or
 * more faces and one or two models, as a PNG, SVG or PDF figure, headless.
 * The same inspect + draw code the app uses, so the figure is what the
 * window shows.  A JSON sidecar (FIG.json) records how it was made.
 *
 * --shard K/N (or slurm; cli/shard.h): the K-th of N blocks of the images
 * is drawn as its band of the whole figure (figure.h,
 * ts_figure_export_band; PNG only), and its sidecar gets "shard";
 * `traitscope-cli merge --out FIG.png` of the N sidecars stacks the bands
 * into the figure one run over all the images draws, and writes its
 * sidecar.  A shard whose image cannot be used fails without a band (the
 * rows below it would move). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "nn/fileio.h"
#include "figure/figure.h"
#include "nn/safetext.h"
#include "cli/shard.h"
#include "face/image.h"
#include "explain/inspect.h"
#include "nn/model.h"

#define MAX_IMAGES 64

static void help(FILE *f)
{
    fprintf(f,
            "usage: traitscope-cli figure --model A [--model B] IMAGE... --out FIG.{png,svg,pdf}\n"
            "         [--panels LIST] [--names A,B] [--rules STRING] [--target CLASS]\n"
            "         [--method ert|cnn] [--layer conv1] [--face N] [--dpi N] [--indices]\n"
            "         [--contours] [--device cpu|cuda|auto] [--shard K/N|slurm] [--detector ssd|tiny]\n"
            "\n"
            "One row per image, one column per panel.  Panels: face amap act-a act-b\n"
            "lrp-a lrp-b lrp-diff pred table photo (default: face,amap,act-a,lrp-a and,\n"
            "with a second model, act-b,lrp-b,lrp-diff, then pred,table), or 'all'.\n"
            "'photo' is the whole photo with every detected face outlined and numbered;\n"
            "--face N inspects face N of each photo (default: the largest).  The heatmaps\n"
            "of both models share one colour scale.  FIG.json records the images, the\n"
            "faces, the models' content hashes, the LRP rules and the settings.  --shard K/N draws\n"
            "the K-th of N blocks of the images as its band of the whole figure (PNG), for\n"
            "'traitscope-cli merge --out FIG.png SHARD.png.json...'.\n"
            "--detector: face-api's SSD MobileNet v1 (ssd, the default) or its Tiny\n"
            "Face Detector (tiny).\n");
}

int cmd_figure(int argc, char **argv)
{
    const char *model_path[2] = { NULL, NULL }, *out = NULL, *panels_s = NULL, *names = NULL;
    const char *rules = NULL, *target = NULL, *method_s = "ert", *layer = "conv1", *dpi_s = "300", *face_s = NULL;
    const char *images[MAX_IMAGES];
    int n_models = 0, n_images = 0;
    ts_device device = TS_DEVICE_AUTO;
    cli_shard shard = { .on = false, .index = 0, .count = 1 };
    char why[256];
    ts_detector_kind detector = TS_DETECTOR_SSD;
    ts_draw_opts dopt;
    ts_draw_opts_init(&dopt);
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help(stdout);
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            if (n_models == 2) return cli_usage_error("figure", "at most two --model");
            model_path[n_models++] = v;
        } else if (cli_opt(argc, argv, &i, "--out", &v)) out = v;
        else if (cli_opt(argc, argv, &i, "--panels", &v)) panels_s = v;
        else if (cli_opt(argc, argv, &i, "--names", &v)) names = v;
        else if (cli_opt(argc, argv, &i, "--rules", &v)) rules = v;
        else if (cli_opt(argc, argv, &i, "--target", &v)) target = v;
        else if (cli_opt(argc, argv, &i, "--method", &v)) method_s = v;
        else if (cli_opt(argc, argv, &i, "--layer", &v)) layer = v;
        else if (cli_opt(argc, argv, &i, "--dpi", &v)) dpi_s = v;
        else if (cli_opt(argc, argv, &i, "--face", &v)) face_s = v;
        else if (cli_opt(argc, argv, &i, "--detector", &v)) {
            if (ts_detector_kind_parse(v, &detector) != TS_OK)
                return cli_usage_error("figure", "--detector wants ssd or tiny, not '%s'", v);
        }
        else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("figure", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--shard", &v)) {
            if (!cli_shard_parse(v, &shard, why, sizeof why)) return cli_usage_error("figure", "%s", why);
        } else if (cli_flag(argv, i, "--indices")) dopt.indices = true;
        else if (cli_flag(argv, i, "--contours")) dopt.contours = true;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("figure", "unknown option %s", argv[i]);
        else if (n_images == MAX_IMAGES) return cli_usage_error("figure", "at most %d images", MAX_IMAGES);
        else images[n_images++] = argv[i];
    }
    if (!out) return cli_usage_error("figure", "--out FIG.png|svg|pdf is required");
    if (n_images == 0) return cli_usage_error("figure", "no image given");
    /* A shard draws its block of the images, at their rows of the whole. */
    const int all_images = n_images;
    int lo, hi;
    cli_shard_range(&shard, n_images, &lo, &hi);
    if (shard.on) {
        size_t L = strlen(out);
        if (L < 4 || strcasecmp(out + L - 4, ".png"))
            return cli_usage_error("figure", "--shard draws a band of a PNG figure: --out must end in .png");
        if (hi == lo) return cli_usage_error("figure", "--shard %d/%d: no image falls to it (%d in all)", shard.index,
                                              shard.count, all_images);
        memmove(images, images + lo, (size_t)(hi - lo) * sizeof *images);
        n_images = hi - lo;
    }
    ts_landmark_method method;
    if (!ts_landmark_method_parse(method_s, &method) || method == TS_LANDMARKS_NONE)
        return cli_usage_error("figure", "--method must be ert or cnn");
    int dpi;
    if (!cli_parse_int(dpi_s, &dpi) || dpi < 30 || dpi > 1200) return cli_usage_error("figure", "--dpi must be 30..1200");
    int face = -1;
    if (face_s && (!cli_parse_int(face_s, &face) || face < 0 || face >= TS_INSPECT_MAX_FACES))
        return cli_usage_error("figure", "--face must be 0..%d (0 is the first face detected)", TS_INSPECT_MAX_FACES - 1);
    ts_panel panels[TS_PANEL_COUNT * 2];
    int n_panels;
    if (panels_s) {
        n_panels = ts_panel_list_parse(panels_s, panels, TS_PANEL_COUNT * 2);
        if (n_panels < 0) return cli_usage_error("figure", "%s", ts_last_error());
    } else {
        static const ts_panel one[] = { TS_PANEL_FACE, TS_PANEL_AMAP, TS_PANEL_ACT_A, TS_PANEL_LRP_A, TS_PANEL_PRED, TS_PANEL_TABLE };
        static const ts_panel two[] = { TS_PANEL_FACE, TS_PANEL_AMAP, TS_PANEL_ACT_A, TS_PANEL_ACT_B, TS_PANEL_LRP_A,
                                        TS_PANEL_LRP_B, TS_PANEL_LRP_DIFF, TS_PANEL_PRED, TS_PANEL_TABLE };
        const ts_panel *src = n_models == 2 ? two : one;
        n_panels = n_models == 2 ? 9 : 6;
        memcpy(panels, src, (size_t)n_panels * sizeof *panels);
    }
    char name_buf[2][64] = { "", "" };
    if (names) {
        const char *comma = strchr(names, ',');
        snprintf(name_buf[0], sizeof name_buf[0], "%.*s", comma ? (int)(comma - names) : (int)strlen(names), names);
        if (comma) snprintf(name_buf[1], sizeof name_buf[1], "%s", comma + 1);
    }

    /* FIG and FIG.json must not be one of the files they are made from */
    char *side_path = malloc(strlen(out) + 6);
    if (!side_path) return cli_fail("figure", ts_error(TS_ERR_OOM, "out of memory"));
    sprintf(side_path, "%s.json", out);
    const char *outs[2] = { out, side_path }, *ins[MAX_IMAGES + 2];
    for (int k = 0; k < n_images; k++) ins[k] = images[k];
    for (int m = 0; m < n_models; m++) ins[n_images + m] = model_path[m];
    int refused = cli_refuse_overwrite("figure", outs, 2, ins, n_images + n_models);
    free(side_path);
    if (refused) return refused;

    ts_model *models[2] = { NULL, NULL };
    ts_inspector *insp = NULL;
    int rc = CMD_OK;
    for (int m = 0; m < n_models; m++) {
        ts_status st = ts_model_load_any(model_path[m], &models[m]);
        if (st != TS_OK) {
            rc = cli_fail("figure", st);
            goto done;
        }
    }
    /* names once both are loaded: two of a kind are "A" and "B" */
    for (int m = 0; m < n_models; m++) {
        if (name_buf[m][0]) dopt.model_name[m] = name_buf[m];
        else if (n_models == 1 || models[m]->meta.in_channels != models[1 - m]->meta.in_channels)
            dopt.model_name[m] = models[m]->meta.in_channels == 4 ? "LACNN" : "baseline";
        else dopt.model_name[m] = m ? "B" : "A";
        dopt.class_names[m] = (const char *const *)models[m]->meta.classes;
    }

    /* the detector, the localizer's net, the models and LRP run on the GPU
     * when there is one (the inspector's device) */
    insp = ts_inspector_new();
    {
        char why[512];
        ts_inspector_set_device(insp, device, why, sizeof why);
        if (why[0]) fprintf(stderr, "traitscope-cli figure: %s\n", why);
    }
    ts_inspect *results = calloc((size_t)n_images, sizeof *results);
    const ts_inspect **rows = calloc((size_t)n_images, sizeof *rows);
    int n_rows = 0;
    ts_inspect_opts io = { 0 };
    io.method = method;
    io.detector = detector;
    io.face = face;
    io.rules = rules;
    io.target = target;
    io.layer = layer;
    const char **row_images = calloc((size_t)n_images, sizeof *row_images);
    for (int k = 0; k < n_images; k++) {
        ts_image img = { 0 };
        ts_status st = ts_image_load(images[k], &img);
        if (st == TS_OK) st = ts_inspector_run(insp, &img, models, &io, &results[n_rows]);
        ts_image_clear(&img);
        if (st != TS_OK) {
            ts_error_about(st, images[k]);
            cli_warn("figure", "%s (skipped)", ts_last_error());
            rc = CMD_FAIL;
            continue;
        }
        const ts_inspect *r = &results[n_rows];
        if (face >= 0 && r->face != face)
            cli_warn("figure", "%s: %d face(s) detected, no face %d: the largest is shown", images[k], r->n_faces,
                     face);
        for (int m = 0; m < n_models; m++)
            if (r->model[m].error[0]) cli_warn("figure", "%s: model %s: %s", images[k], model_path[m], r->model[m].error);
        row_images[n_rows] = images[k];
        rows[n_rows++] = r;
    }
    if (n_rows == 0) {
        cli_warn("figure", "no image could be used");
        rc = CMD_FAIL;
    } else if (shard.on && n_rows != n_images) {
        cli_warn("figure", "shard %d/%d: %d of its images could not be used, so its band would not fit the whole"
                           " figure; nothing written", shard.index, shard.count, n_images - n_rows);
        rc = CMD_FAIL;
    } else {
        ts_figure_record rec = { 0 };
        rec.tool = "traitscope-cli figure";
        rec.n_rows = n_rows;
        rec.images = row_images;
        rec.faces = rows;
        for (int m = 0; m < n_models; m++) {
            rec.models[m] = models[m];
            rec.model_path[m] = model_path[m];
            rec.model_name[m] = dopt.model_name[m];
        }
        rec.method = method;
        rec.detector = detector;
        rec.rules = rules;
        rec.target = target;
        rec.layer = layer;
        rec.face = face;
        rec.panels = panels;
        rec.n_panels = n_panels;
        rec.opts = &dopt;
        rec.dpi = dpi;
        char *json = ts_figure_sidecar_json(&rec);
        if (json && shard.on) {
            /* the sidecar says which band this is */
            cJSON *sj = cJSON_Parse(json);
            free(json);
            json = NULL;
            if (sj) {
                cli_shard_json(sj, &shard, "figure", all_images, lo, hi);
                json = ts_json_print(sj, true);
                cJSON_Delete(sj);
            }
        }
        ts_status st = !json ? ts_error(TS_ERR_OOM, "out of memory")
                       : shard.on ? ts_figure_export_band(out, rows, n_rows, lo, all_images, panels, n_panels, &dopt,
                                                          dpi, json)
                                  : ts_figure_export(out, rows, n_rows, panels, n_panels, &dopt, dpi, json);
        free(json);
        if (st != TS_OK) {
            rc = cli_fail("figure", st);
        } else {
            cJSON *o = cJSON_CreateObject();
            char *sp = malloc(strlen(out) + 6);
            if (sp) sprintf(sp, "%s.json", out);
            cJSON_AddStringToObject(o, "figure", out);
            cJSON_AddStringToObject(o, "sidecar", sp ? sp : "");
            cJSON_AddNumberToObject(o, "faces", n_rows);
            cJSON_AddNumberToObject(o, "panels", n_panels);
            if (cli_print_json(o, false) != CMD_OK) rc = CMD_FAIL;
            cJSON_Delete(o);
            free(sp);
        }
    }
    free(row_images);
    for (int k = 0; k < n_rows; k++) ts_inspect_clear(&results[k]);
    free(results);
    free(rows);
done:
    /* the models first: they may live in the inspector's GPU context */
    for (int m = 0; m < 2; m++) ts_model_free(models[m]);
    ts_inspector_free(insp);
    return rc;
}
