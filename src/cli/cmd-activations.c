/* cmd-activations.c - `traitscope-cli activations --model MODEL IMAGE
 * [--layer conv1] --out GRID.png`: the responses of one layer to a face
 * crop on a grid (Fig. 5 of the LACNN paper: AlexNet's 96 conv1 maps on
 * 10 x 10), coloured with viridis (colormap.h), and optionally the layer's
 * filters (src/explain/activations.h).
 *
 * Without IMAGE only the filter pictures can be written (--filters,
 * --filters-amap).  Prints one line per file written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "explain/explain.h"
#include "explain/activations.h"

static void help(void)
{
    printf("usage: traitscope-cli activations --model MODEL [IMAGE] [--layer conv1] [--out GRID.png]\n"
           "                                  [--shared] [--cols N] [--scale N] [--device cpu|cuda|auto]\n"
           "                                  [--filters F.png] [--filters-amap A.png]\n\n"
           "  --layer NAME         layer whose output is shown (default conv1)\n"
           "  --out GRID.png       the responses to IMAGE on a grid (10 columns up to 100 maps)\n"
           "  --shared             one normalisation for all maps (default: per map)\n"
           "  --cols N, --scale N  grid columns, integer magnification of each map\n"
           "  --filters F.png      the layer's filters, input channels 0..2 as RGB\n"
           "  --filters-amap A.png 4-channel models: the filters' A(x,y) channel\n"
           "  --landmarks SRC      landmarks JSON file, or ert / cnn (4-channel models)\n"
           CLI_DEVICE_HELP);
}

static ts_status save_grid(const ts_act_grid *g, const char *path)
{
    ts_image img = { 0 };
    TS_TRY(ts_act_grid_render(g, &img));
    ts_status st = ts_image_save_png(path, &img);
    ts_image_clear(&img);
    return st;
}

int cmd_activations(int argc, char **argv)
{
    const char *model_path = NULL, *image_path = NULL, *layer = "conv1", *out = NULL;
    const char *filters = NULL, *filters_a = NULL, *lm_src = NULL, *v;
    ts_act_opts ao = { 0 };
    ts_device device = TS_DEVICE_AUTO;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) model_path = v;
        else if (cli_opt(argc, argv, &i, "--layer", &v)) layer = v;
        else if (cli_opt(argc, argv, &i, "--out", &v)) out = v;
        else if (cli_opt(argc, argv, &i, "--filters", &v)) filters = v;
        else if (cli_opt(argc, argv, &i, "--filters-amap", &v)) filters_a = v;
        else if (cli_opt(argc, argv, &i, "--landmarks", &v)) lm_src = v;
        else if (cli_opt(argc, argv, &i, "--cols", &v)) {
            if (!cli_parse_int(v, &ao.cols) || ao.cols < 1 || ao.cols > 4096)
                return cli_usage_error("activations", "--cols wants 1..4096, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--scale", &v)) {
            if (!cli_parse_int(v, &ao.scale) || ao.scale < 1 || ao.scale > 64)
                return cli_usage_error("activations", "--scale wants 1..64, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                return cli_usage_error("activations", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (cli_flag(argv, i, "--shared")) ao.shared_norm = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error("activations", "unknown option '%s'", argv[i]);
        else if (image_path)
            return cli_usage_error("activations", "one IMAGE only ('%s' and '%s')", image_path, argv[i]);
        else image_path = argv[i];
    }
    if (!model_path) return cli_usage_error("activations", "--model MODEL is required");
    if (!out && !filters && !filters_a)
        return cli_usage_error("activations", "nothing to write: give --out, --filters or --filters-amap");
    if (out && !image_path) return cli_usage_error("activations", "--out needs an IMAGE");
    const char *outs[3] = { out, filters, filters_a }, *ins[3] = { model_path, image_path, lm_src };
    int refused = cli_refuse_overwrite("activations", outs, 3, ins, 3);
    if (refused) return refused;
    const ts_backend *be;
    void *be_ctx;
    cli_backend_open("activations", device, &be, &be_ctx);

    ts_model *m = NULL;
    ts_image img = { 0 };
    ts_act_grid grid = { 0 };
    ts_landmarker *lmk = NULL;
    ts_explainer *ex = NULL;
    ts_points *pts = calloc(1, sizeof *pts);
    ts_status st = pts ? ts_landmarker_new(lm_src, be, be_ctx, &lmk) : ts_error(TS_ERR_OOM, "out of memory");
    if (st == TS_OK) st = ts_explain_model_load(model_path, be, be_ctx, &m);
    /* Check the layer before any image work, so a typo fails fast. */
    if (st == TS_OK && ts_graph_index(m->graph, layer) < 0)
        st = ts_act_grid_layer(m->graph, layer, 0, &ao, &grid); /* the error lists the layers */
    if (st == TS_OK && out) {
        /* the explain flow's face stage and input (explain.h), then only
         * the forward pass */
        bool have = false;
        ts_explanation x = { 0 };
        st = ts_image_load(image_path, &img);
        if (st == TS_OK) st = ts_landmarker_get(lmk, m, &img, pts, &have);
        if (st == TS_OK) st = ts_explainer_new(m, NULL, NULL, &ex);
        if (st == TS_OK) st = ts_explainer_input(ex, &img, have ? pts : NULL, &x);
        if (st == TS_OK) st = ts_graph_forward(m->graph, &x.input);
        ts_explanation_clear(&x);
        if (st == TS_OK) st = ts_act_grid_layer(m->graph, layer, 0, &ao, &grid);
        if (st == TS_OK) st = save_grid(&grid, out);
        if (st == TS_OK) printf("%s: %d maps of layer '%s' on %dx%d (%dx%d pixels)\n", out,
                                m->graph->nodes[ts_graph_index(m->graph, layer)].c, layer, grid.cols,
                                grid.rows, grid.w, grid.h);
        ts_act_grid_clear(&grid);
    }
    if (st == TS_OK && filters) {
        ts_image f = { 0 };
        st = ts_act_filters_rgb(m->graph, layer, &ao, &f);
        if (st == TS_OK) st = ts_image_save_png(filters, &f);
        if (st == TS_OK) printf("%s: filters of '%s' (channels 0..2 as RGB)\n", filters, layer);
        ts_image_clear(&f);
    }
    if (st == TS_OK && filters_a) {
        if (m->meta.in_channels < 4 || m->graph->nodes[ts_graph_index(m->graph, layer)].inputs[0] != 0)
            st = ts_error(TS_ERR_ARG, "--filters-amap: layer '%s' of '%s' does not read an A(x,y) channel",
                          layer, model_path);
        if (st == TS_OK) st = ts_act_filters_channel(m->graph, layer, 3, &ao, &grid);
        if (st == TS_OK) st = save_grid(&grid, filters_a);
        if (st == TS_OK) printf("%s: filters of '%s', A(x,y) channel\n", filters_a, layer);
        ts_act_grid_clear(&grid);
    }
    ts_explainer_free(ex);
    ts_model_free(m);
    ts_image_clear(&img);
    ts_landmarker_free(lmk);
    ts_backend_close(be, be_ctx);
    free(pts);
    return st == TS_OK ? CMD_OK : cli_fail("activations", st);
}
