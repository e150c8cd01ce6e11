/* colormap.c - colour maps, colour bars and small drawing helpers
 * (see colormap.h for the maps and their sources).
 *
 * Invariants: every function writes only inside the image it is given;
 * the tables below are data (facts), the code interpolates them.
 */
#include "explain/colormap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ColorBrewer RdBu, 11 classes, from t = -1 (dark blue) to +1 (dark red);
 * the centre (#f7f7f7 in ColorBrewer) is pure white so that zero relevance
 * is exactly white. */
static const uint8_t rdbu[11][3] = {
    { 0x05, 0x30, 0x61 }, { 0x21, 0x66, 0xac }, { 0x43, 0x93, 0xc3 }, { 0x92, 0xc5, 0xde },
    { 0xd1, 0xe5, 0xf0 }, { 0xff, 0xff, 0xff }, { 0xfd, 0xdb, 0xc7 }, { 0xf4, 0xa5, 0x82 },
    { 0xd6, 0x60, 0x4d }, { 0xb2, 0x18, 0x2b }, { 0x67, 0x00, 0x1f },
};

/* matplotlib viridis (CC0, github.com/BIDS/colormap), 256 entries rounded
 * to 8 bits. */
static const uint8_t viridis[256][3] = {
    {68,1,84}, {68,2,86}, {69,4,87}, {69,5,89}, {70,7,90}, {70,8,92}, {70,10,93}, {70,11,94},
    {71,13,96}, {71,14,97}, {71,16,99}, {71,17,100}, {71,19,101}, {72,20,103}, {72,22,104}, {72,23,105},
    {72,24,106}, {72,26,108}, {72,27,109}, {72,28,110}, {72,29,111}, {72,31,112}, {72,32,113}, {72,33,115},
    {72,35,116}, {72,36,117}, {72,37,118}, {72,38,119}, {72,40,120}, {72,41,121}, {71,42,122}, {71,44,122},
    {71,45,123}, {71,46,124}, {71,47,125}, {70,48,126}, {70,50,126}, {70,51,127}, {70,52,128}, {69,53,129},
    {69,55,129}, {69,56,130}, {68,57,131}, {68,58,131}, {68,59,132}, {67,61,132}, {67,62,133}, {66,63,133},
    {66,64,134}, {66,65,134}, {65,66,135}, {65,68,135}, {64,69,136}, {64,70,136}, {63,71,136}, {63,72,137},
    {62,73,137}, {62,74,137}, {62,76,138}, {61,77,138}, {61,78,138}, {60,79,138}, {60,80,139}, {59,81,139},
    {59,82,139}, {58,83,139}, {58,84,140}, {57,85,140}, {57,86,140}, {56,88,140}, {56,89,140}, {55,90,140},
    {55,91,141}, {54,92,141}, {54,93,141}, {53,94,141}, {53,95,141}, {52,96,141}, {52,97,141}, {51,98,141},
    {51,99,141}, {50,100,142}, {50,101,142}, {49,102,142}, {49,103,142}, {49,104,142}, {48,105,142}, {48,106,142},
    {47,107,142}, {47,108,142}, {46,109,142}, {46,110,142}, {46,111,142}, {45,112,142}, {45,113,142}, {44,113,142},
    {44,114,142}, {44,115,142}, {43,116,142}, {43,117,142}, {42,118,142}, {42,119,142}, {42,120,142}, {41,121,142},
    {41,122,142}, {41,123,142}, {40,124,142}, {40,125,142}, {39,126,142}, {39,127,142}, {39,128,142}, {38,129,142},
    {38,130,142}, {38,130,142}, {37,131,142}, {37,132,142}, {37,133,142}, {36,134,142}, {36,135,142}, {35,136,142},
    {35,137,142}, {35,138,141}, {34,139,141}, {34,140,141}, {34,141,141}, {33,142,141}, {33,143,141}, {33,144,141},
    {33,145,140}, {32,146,140}, {32,146,140}, {32,147,140}, {31,148,140}, {31,149,139}, {31,150,139}, {31,151,139},
    {31,152,139}, {31,153,138}, {31,154,138}, {30,155,138}, {30,156,137}, {30,157,137}, {31,158,137}, {31,159,136},
    {31,160,136}, {31,161,136}, {31,161,135}, {31,162,135}, {32,163,134}, {32,164,134}, {33,165,133}, {33,166,133},
    {34,167,133}, {34,168,132}, {35,169,131}, {36,170,131}, {37,171,130}, {37,172,130}, {38,173,129}, {39,173,129},
    {40,174,128}, {41,175,127}, {42,176,127}, {44,177,126}, {45,178,125}, {46,179,124}, {47,180,124}, {49,181,123},
    {50,182,122}, {52,182,121}, {53,183,121}, {55,184,120}, {56,185,119}, {58,186,118}, {59,187,117}, {61,188,116},
    {63,188,115}, {64,189,114}, {66,190,113}, {68,191,112}, {70,192,111}, {72,193,110}, {74,193,109}, {76,194,108},
    {78,195,107}, {80,196,106}, {82,197,105}, {84,197,104}, {86,198,103}, {88,199,101}, {90,200,100}, {92,200,99},
    {94,201,98}, {96,202,96}, {99,203,95}, {101,203,94}, {103,204,92}, {105,205,91}, {108,205,90}, {110,206,88},
    {112,207,87}, {115,208,86}, {117,208,84}, {119,209,83}, {122,209,81}, {124,210,80}, {127,211,78}, {129,211,77},
    {132,212,75}, {134,213,73}, {137,213,72}, {139,214,70}, {142,214,69}, {144,215,67}, {147,215,65}, {149,216,64},
    {152,216,62}, {155,217,60}, {157,217,59}, {160,218,57}, {162,218,55}, {165,219,54}, {168,219,52}, {170,220,50},
    {173,220,48}, {176,221,47}, {178,221,45}, {181,222,43}, {184,222,41}, {186,222,40}, {189,223,38}, {192,223,37},
    {194,223,35}, {197,224,33}, {200,224,32}, {202,225,31}, {205,225,29}, {208,225,28}, {210,226,27}, {213,226,26},
    {216,226,25}, {218,227,25}, {221,227,24}, {223,227,24}, {226,228,24}, {229,228,25}, {231,228,25}, {234,229,26},
    {236,229,27}, {239,229,28}, {241,229,29}, {244,230,30}, {246,230,32}, {248,230,33}, {251,231,35}, {253,231,37},
};

/* Categorical palette: output of tools/gen-categorical.py (greedy
 * farthest-point colours in OKLab; the first 68 are >= 0.087 apart). */
static const uint8_t categorical[TS_CMAP_CATEGORIES][3] = {
    {233,122,22}, {0,0,255}, {0,255,0}, {233,0,255}, {22,177,255}, {0,111,0}, {155,0,89}, {244,222,222},
    {67,100,155}, {89,177,100}, {255,0,122}, {133,0,222}, {222,144,222}, {0,244,211}, {233,200,0}, {144,89,33},
    {100,111,255}, {177,89,166}, {144,144,155}, {211,0,0}, {255,166,144}, {155,200,211}, {55,133,111}, {166,255,133},
    {155,133,0}, {133,211,33}, {111,55,144}, {222,111,133}, {177,100,255}, {188,166,111}, {166,0,166}, {67,55,200},
    {144,144,233}, {244,78,200}, {22,144,188}, {67,144,0}, {0,188,188}, {0,100,89}, {133,100,122}, {155,33,11},
    {233,188,255}, {255,55,0}, {188,222,166}, {200,22,122}, {155,244,255}, {0,89,244}, {122,89,188}, {200,89,0},
    {177,11,255}, {0,222,255}, {211,22,188}, {89,211,155}, {122,67,78}, {100,55,255}, {0,188,0}, {166,177,255},
    {200,166,177}, {177,78,89}, {89,89,33}, {166,177,22}, {22,244,133}, {255,222,133}, {255,111,255}, {255,166,44},
    {0,144,255}, {177,122,100}, {122,122,177}, {255,133,166}, {244,233,0}, {200,111,211}, {144,67,122}, {222,67,89},
    {55,111,211}, {188,133,177}, {111,111,0}, {133,155,111}, {166,67,211}, {222,144,122}, {233,200,166}, {89,100,100},
    {100,166,200}, {177,233,0}, {0,166,144}, {255,89,155}, {188,211,255}, {177,200,111}, {0,89,188}, {144,177,166},
    {144,111,222}, {122,122,89}, {222,67,155}, {222,89,244}, {200,144,0}, {144,78,255}, {244,166,200}, {144,255,200},
    {255,155,255}, {89,78,122}, {188,133,255}, {78,122,144}, {255,111,89}, {122,155,11}, {188,0,67}, {0,211,100},
    {166,111,144}, {122,11,177}, {0,222,0}, {255,0,222}, {122,200,255}, {100,0,211}, {211,177,55}, {133,233,155},
    {100,133,222}, {211,233,122}, {200,55,233}, {133,222,200}, {177,67,11}, {89,78,166}, {222,100,78}, {155,67,166},
    {78,0,244}, {255,122,211}, {67,111,67}, {155,166,211}, {144,0,133}, {0,133,67}, {100,144,78}, {188,188,155},
    {211,188,211}, {89,144,144}, {255,0,166}, {166,111,33}, {200,89,133}, {0,111,133}, {155,55,78}, {111,67,211},
    {255,144,89}, {255,67,100}, {0,122,177}, {0,166,11}, {222,111,177}, {55,255,255}, {133,188,122}, {188,200,0},
    {11,211,211}, {255,211,255}, {144,255,0}, {188,222,222}, {11,55,222}, {200,78,200}, {133,67,33}, {111,188,44},
    {89,89,233}, {233,188,111}, {211,166,255}, {155,100,89}, {177,155,144}, {166,122,200}, {122,166,255}, {177,67,122},
    {177,144,89}, {144,100,166}, {144,122,122}, {144,44,188}, {89,188,222}, {122,89,78}, {11,89,144}, {133,222,255},
    {100,177,144}, {166,33,133}, {0,155,89}, {111,233,33}, {255,67,255}, {255,188,200}, {222,233,188}, {177,0,211},
    {200,122,55}, {111,144,188}, {67,155,222}, {67,255,177}, {144,166,78}, {166,222,100}, {111,89,144}, {222,122,244},
    {188,55,166}, {244,0,55}, {222,144,166}, {122,200,177}, {133,33,255}, {222,0,89}, {177,155,233}, {0,233,166},
    {222,155,78}, {33,111,255}, {122,133,255}, {44,55,255}, {222,67,33}, {211,211,111}, {188,100,100}, {0,200,133},
    {111,100,55}, {122,211,111}, {222,0,155}, {0,166,188}, {0,133,222}, {222,177,155}, {100,55,177}, {155,144,188},
    {133,89,222}, {200,133,133}, {89,111,177}, {111,111,211}, {177,22,100}, {78,122,0}, {78,89,200}, {211,222,44},
    {155,78,67}, {255,111,133}, {67,100,11}, {133,244,100}, {155,44,233}, {78,233,233}, {0,200,255}, {155,89,133},
    {111,89,111}, {111,133,0}, {200,55,67}, {255,200,89}, {211,166,211}, {155,211,155}, {67,89,111}, {222,0,222},
    {166,100,200}, {255,100,0}, {177,188,233}, {188,111,166}, {0,188,89}, {144,133,78}, {222,222,255}, {177,44,44},
    {155,122,255}, {233,44,200}, {233,78,133}, {144,78,100}, {133,122,33}, {111,0,244}, {133,44,122}, {0,177,222},
    {211,244,0}, {177,211,188}, {100,166,166}, {0,133,144}, {111,111,111}, {233,133,188}, {133,244,222}, {122,67,177},
};

static const uint8_t nan_grey[3] = { 128, 128, 128 };

static void lerp_table(const uint8_t (*tab)[3], int n, float t, uint8_t rgb[3])
{
    /* t in [0,1] spans entries 0..n-1. */
    float pos = t * (float)(n - 1);
    int i = (int)pos;
    if (i >= n - 1) i = n - 2;
    if (i < 0) i = 0;
    float f = pos - (float)i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (uint8_t)lrintf((float)tab[i][c] + f * (float)(tab[i + 1][c] - tab[i][c]));
}

void ts_cmap_diverging(float t, uint8_t rgb[3])
{
    if (isnan(t)) {
        memcpy(rgb, nan_grey, 3);
        return;
    }
    t = t < -1 ? -1 : t > 1 ? 1 : t;
    lerp_table(rdbu, 11, (t + 1) * 0.5f, rgb);
}

void ts_cmap_viridis(float t, uint8_t rgb[3])
{
    if (isnan(t)) {
        memcpy(rgb, nan_grey, 3);
        return;
    }
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    /* 256 entries sample [0,1] at i/255: nearest entry, as matplotlib. */
    memcpy(rgb, viridis[(int)lrintf(t * 255.0f)], 3);
}

void ts_cmap_categorical(int i, uint8_t rgb[3])
{
    int k = i % TS_CMAP_CATEGORIES;
    if (k < 0) k += TS_CMAP_CATEGORIES;
    memcpy(rgb, categorical[k], 3);
}

ts_status ts_colormap_relevance(const float *r, int w, int h, float scale, ts_image *out,
                                float *scale_used)
{
    TS_ASSERT(r && out);
    TS_TRY(ts_image_init(out, w, h));
    size_t n = (size_t)w * h;
    if (!(scale > 0) || !isfinite(scale)) {
        scale = 0;
        for (size_t i = 0; i < n; i++)
            if (isfinite(r[i]) && fabsf(r[i]) > scale) scale = fabsf(r[i]);
    }
    float inv = scale > 0 ? 1.0f / scale : 0.0f;
    for (size_t i = 0; i < n; i++) {
        /* Inf * 0 would be NaN: clamp infinities first. */
        float t = isinf(r[i]) ? (r[i] > 0 ? 1.0f : -1.0f) : r[i] * inv;
        ts_cmap_diverging(t, ts_image_pixel(out, (int)(i % (size_t)w), (int)(i / (size_t)w)));
    }
    if (scale_used) *scale_used = scale;
    return TS_OK;
}

ts_status ts_colormap_activation(const float *a, int w, int h, float lo, float hi, ts_image *out,
                                 float range_used[2])
{
    TS_ASSERT(a && out);
    TS_TRY(ts_image_init(out, w, h));
    size_t n = (size_t)w * h;
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi)) {
        lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++)
            if (isfinite(a[i])) {
                if (a[i] < lo) lo = a[i];
                if (a[i] > hi) hi = a[i];
            }
        if (!(lo <= hi)) lo = hi = 0; /* no finite value */
    }
    float inv = hi > lo ? 1.0f / (hi - lo) : 0.0f;
    for (size_t i = 0; i < n; i++) {
        float t = isinf(a[i]) ? (a[i] > 0 ? 1.0f : 0.0f) : (a[i] - lo) * inv;
        ts_cmap_viridis(t, ts_image_pixel(out, (int)(i % (size_t)w), (int)(i / (size_t)w)));
    }
    if (range_used) range_used[0] = lo, range_used[1] = hi;
    return TS_OK;
}

ts_status ts_colormap_amap(const uint8_t *amap, int w, int h, ts_image *out)
{
    TS_ASSERT(amap && out);
    TS_TRY(ts_image_init(out, w, h));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            ts_cmap_categorical(amap[(size_t)y * w + x], ts_image_pixel(out, x, y));
    return TS_OK;
}

void ts_colorbar_draw(ts_image *img, int x, int y, int w, int h, ts_cmap cmap, bool vertical)
{
    TS_ASSERT(img && img->data);
    static const uint8_t frame[3] = { 40, 40, 40 };
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            int px = x + i, py = y + j;
            if (px < 0 || py < 0 || px >= img->width || py >= img->height) continue;
            uint8_t *p = ts_image_pixel(img, px, py);
            if (w >= 3 && h >= 3 && (i == 0 || j == 0 || i == w - 1 || j == h - 1)) {
                memcpy(p, frame, 3);
                continue;
            }
            /* Position along the bar, 0 at the low end, 1 at the high end;
             * inside the frame when there is one. */
            int in = w >= 3 && h >= 3, len = (vertical ? h : w) - 2 * in;
            int k = (vertical ? h - 1 - j : i) - in;
            float u = len > 1 ? (float)k / (float)(len - 1) : 0.5f;
            if (cmap == TS_CMAP_DIVERGING) ts_cmap_diverging(2 * u - 1, p);
            else ts_cmap_viridis(u, p);
        }
}

ts_status ts_image_blend(ts_image *dst, const ts_image *over, float alpha)
{
    TS_ASSERT(dst && over && dst->data && over->data);
    if (dst->width != over->width || dst->height != over->height)
        return ts_error(TS_ERR_ARG, "blend: sizes differ (%dx%d vs %dx%d)", dst->width, dst->height,
                        over->width, over->height);
    alpha = alpha < 0 ? 0 : alpha > 1 ? 1 : alpha;
    for (int y = 0; y < dst->height; y++)
        for (int x = 0; x < 3 * dst->width; x++) {
            uint8_t *d = dst->data + (size_t)y * dst->stride + x;
            float o = over->data[(size_t)y * over->stride + x];
            *d = (uint8_t)lrintf((1 - alpha) * (float)*d + alpha * o);
        }
    return TS_OK;
}

void ts_image_to_grey(ts_image *img)
{
    TS_ASSERT(img && img->data);
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            uint8_t *p = ts_image_pixel(img, x, y);
            uint8_t g = (uint8_t)lrintf(0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]);
            p[0] = p[1] = p[2] = g;
        }
}

void ts_image_draw_dot(ts_image *img, float cx, float cy, float radius, const uint8_t fill[3],
                       const uint8_t outline[3])
{
    TS_ASSERT(img && img->data && fill);
    if (!isfinite(cx) || !isfinite(cy) || !(radius > 0)) return;
    float ro = outline ? radius + 1 : radius;
    if (cx + ro < 0 || cy + ro < 0 || cx - ro > img->width || cy - ro > img->height) return;
    int x0 = (int)floorf(cx - ro), x1 = (int)ceilf(cx + ro);
    int y0 = (int)floorf(cy - ro), y1 = (int)ceilf(cy + ro);
    for (int y = y0 < 0 ? 0 : y0; y <= y1 && y < img->height; y++)
        for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < img->width; x++) {
            float d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
            if (d2 <= radius * radius) memcpy(ts_image_pixel(img, x, y), fill, 3);
            else if (outline && d2 <= ro * ro) memcpy(ts_image_pixel(img, x, y), outline, 3);
        }
}

/* 3x5 glyphs, one row per byte (bit 2 = left column). */
static const char glyph_chars[] = "0123456789.-+e";
static const uint8_t glyphs[][5] = {
    { 7, 5, 5, 5, 7 }, { 2, 6, 2, 2, 7 }, { 7, 1, 7, 4, 7 }, { 7, 1, 7, 1, 7 }, { 5, 5, 7, 1, 1 },
    { 7, 4, 7, 1, 7 }, { 7, 4, 7, 5, 7 }, { 7, 1, 1, 1, 1 }, { 7, 5, 7, 5, 7 }, { 7, 5, 7, 1, 7 },
    { 0, 0, 0, 0, 2 }, { 0, 0, 7, 0, 0 }, { 0, 2, 7, 2, 0 }, { 2, 5, 7, 4, 3 },
};

int ts_image_draw_number(ts_image *img, int x, int y, const char *text, int scale,
                         const uint8_t rgb[3])
{
    TS_ASSERT(img && img->data && text && rgb);
    if (scale < 1) scale = 1;
    int cx = x;
    for (const char *s = text; *s; s++) {
        const char *g = strchr(glyph_chars, *s);
        if (g && *s) {
            const uint8_t *rows = glyphs[g - glyph_chars];
            for (int r = 0; r < 5; r++)
                for (int c = 0; c < 3; c++) {
                    if (!(rows[r] & (4 >> c))) continue;
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++) {
                            int px = cx + c * scale + dx, py = y + r * scale + dy;
                            if (px >= 0 && py >= 0 && px < img->width && py < img->height)
                                memcpy(ts_image_pixel(img, px, py), rgb, 3);
                        }
                }
        }
        cx += 4 * scale;
    }
    return cx - x;
}
