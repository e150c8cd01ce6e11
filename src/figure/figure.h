/* figure.h - the panels of the explorer drawn with Cairo, on screen and in
 * figures for papers (PNG at a chosen DPI, SVG, PDF).
 *
 * One drawing function per panel serves the GTK widgets and the exporter,
 * so the screen and the paper show the same colours (explain/colormap.h)
 * and the same layout.  Landmarks, text and colour bars are vector
 * graphics; heatmaps, A(x,y) and activation grids are rasters drawn at their
 * full resolution (nearest-neighbour, no smoothing).
 *
 * Cairo only: the CLI links this without GTK.
 */
#ifndef TS_FIGURE_H
#define TS_FIGURE_H

#include <cairo.h>
#include <stdbool.h>

#include "explain/inspect.h"

typedef enum ts_panel {
    TS_PANEL_FACE = 0,  /* the face with its 68 landmarks */
    TS_PANEL_AMAP,      /* A(x,y) in categorical colours */
    TS_PANEL_ACT_A,     /* activation grid of model A (conv1 by default) */
    TS_PANEL_ACT_B,
    TS_PANEL_LRP_A,     /* LRP heatmap of model A, shared scale with B */
    TS_PANEL_LRP_B,
    TS_PANEL_LRP_DIFF,  /* B minus A */
    TS_PANEL_PRED,      /* class probabilities of both models */
    TS_PANEL_TABLE,     /* relevance per facial part and per input channel */
    TS_PANEL_PHOTO,     /* the whole photo, every detected face outlined, the
                         * inspected one highlighted (pick a face here) */
    TS_PANEL_COUNT
} ts_panel;

/* "face", "amap", "act-a", "act-b", "lrp-a", "lrp-b", "lrp-diff", "pred",
 * "table", "photo". */
const char *ts_panel_name(ts_panel p);
/* Human title of a panel ("Landmarks", "A(x,y)", ...), untranslated. */
const char *ts_panel_title(ts_panel p);
bool ts_panel_parse(const char *s, ts_panel *out);
/* Parses "face,amap,lrp-a" (or "all") into panels; returns the count, or
 * -1 with a ts_error naming the bad item. */
int ts_panel_list_parse(const char *s, ts_panel *out, int max);

typedef struct ts_draw_opts {
    bool points;            /* landmark dots (default on: set by ts_draw_opts_init) */
    bool indices;           /* landmark numbers */
    bool contours;          /* jaw, brows, nose, eyes, lips as lines */
    double cross_x, cross_y; /* crosshair at this crop pixel; < 0: none */
    const char *model_name[TS_INSPECT_MODELS]; /* "baseline", "LACNN" */
    const char *const *class_names[TS_INSPECT_MODELS];
    bool dark;              /* light text on a dark background (screen) */
    /* Translates the panel's words (the app passes gettext); NULL: English. */
    const char *(*translate)(const char *msgid);
} ts_draw_opts;

void ts_draw_opts_init(ts_draw_opts *o);

/* Shared LRP colour scale of the inspected models (max |R| of both heats). */
float ts_figure_lrp_scale(const ts_inspect *r);

/* Draws panel p of r into the rectangle (0,0,w,h) of cr, title included. */
void ts_figure_draw_panel(cairo_t *cr, const ts_inspect *r, ts_panel p, double w, double h,
                          const ts_draw_opts *o);

/* Maps a point in a drawn panel (panel coordinates) to crop pixels of the
 * face, for hover and crosshair; false when outside the picture. */
bool ts_figure_panel_to_crop(const ts_inspect *r, ts_panel p, double w, double h, double px,
                             double py, double *cx, double *cy);

/* Index k of the activation map under point (px, py) of an activation
 * panel (TS_PANEL_ACT_A/B) drawn at w x h, for clicks; -1 on the gaps
 * between maps, the grid's empty cells, outside the grid, for a model
 * without a grid, and for any other panel. */
int ts_figure_act_map_at(const ts_inspect *r, ts_panel p, double w, double h, double px, double py);

/* ---- the photo panel: picking a face ----
 * The photo is scaled to fit below the title band and centred; every
 * detected box (r->faces) is outlined and numbered, the inspected one
 * (r->face) highlighted.  Panel coordinates as for ts_figure_draw_panel. */

/* Index of the detected face under panel point (px, py) of a photo panel
 * of size w x h: the smallest box that contains the point (boxes are
 * widened by 3 units so tiny faces can be hit), -1 when none does. */
int ts_figure_photo_face_at(const ts_inspect *r, double w, double h, double px, double py);

/* Where face k's box is drawn in a photo panel of size w x h: rect =
 * {x, y, width, height} in panel units.  false for a bad k or no photo. */
bool ts_figure_photo_face_rect(const ts_inspect *r, int k, double w, double h, double rect[4]);

/* ---- export ---- */

/* The page of a figure of n_faces rows x n_panels columns, in points
 * (1/72 inch); a PNG at `dpi` is ceil(w * dpi / 72) x ceil(h * dpi / 72)
 * pixels. */
void ts_figure_page_size(int n_faces, int n_panels, double *w_pt, double *h_pt);

/* How a figure was made: what its JSON sidecar records so that it can be
 * remade.  Rows are images[k] inspected as faces[k]; models may be NULL. */
typedef struct ts_figure_record {
    const char *tool;                          /* "traitscope", "traitscope-cli figure" */
    int n_rows;
    const char *const *images;                 /* n_rows photo paths */
    const ts_inspect *const *faces;            /* n_rows inspections */
    const ts_model *models[TS_INSPECT_MODELS];
    const char *model_path[TS_INSPECT_MODELS];
    const char *model_name[TS_INSPECT_MODELS]; /* as drawn; NULL: none */
    ts_landmark_method method;
    ts_detector_kind detector;                 /* the face detector used (0: ssd) */
    const char *rules, *target, *layer;        /* as asked (NULL: preset, predicted, conv1) */
    int face;                                  /* the face asked for, -1 = the largest */
    const ts_panel *panels;
    int n_panels;
    const ts_draw_opts *opts;                  /* toggles; NULL: defaults */
    double dpi;
} ts_figure_record;

/* The sidecar's JSON text: {"tool", "version", "images": [{"path", "face",
 * "faces_detected", "face_box", "box", "whole_image_is_face"}...],
 * "models": [{"slot", "path", "name", "sha256", "arch", "trait",
 * "in_channels", "landmarks", "classes", "lrp_rules"}...], "settings":
 * {"landmarks", "rules", "target", "layer", "face", "points", "indices",
 * "contours", "dpi", "panels"}}.  "lrp_rules" are the rules as applied per
 * layer.  transfer: full (free()); NULL when out of memory. */
char *ts_figure_sidecar_json(const ts_figure_record *rec);

/* A figure of n_faces rows x n_panels columns, written atomically to
 * `path`; the format follows the extension (.png, .svg, .pdf).  dpi sets
 * the PNG's resolution (panels are 2.2 inches wide).  When sidecar_json is
 * non-NULL it is written to PATH.json (atomically too; both files are
 * complete in their temporary names before either is renamed).  On
 * failure neither PATH nor PATH.json is touched (barring a failing second
 * rename), and the error names the file. */
ts_status ts_figure_export(const char *path, const ts_inspect *const *faces, int n_faces,
                           const ts_panel *panels, int n_panels, const ts_draw_opts *o, double dpi,
                           const char *sidecar_json);

/* One band of a PNG figure of total_rows rows (issue 17: `figure --shard`):
 * rows [first, first + n_faces) drawn where the whole figure draws them,
 * on a PNG that holds only their pixel rows, from half way down the gap
 * above the first to half way down the gap below the last (the page's
 * top and bottom at the ends).  Only white page lies on those boundaries,
 * and the page is only moved by whole pixels, so the bands of a partition
 * of the rows, stacked in order, are the whole figure's PNG pixel for
 * pixel.  TS_ERR_ARG for another format or rows outside the figure; then
 * as ts_figure_export. */
ts_status ts_figure_export_band(const char *path, const ts_inspect *const *faces, int n_faces, int first,
                                int total_rows, const ts_panel *panels, int n_panels, const ts_draw_opts *o,
                                double dpi, const char *sidecar_json);

#endif
