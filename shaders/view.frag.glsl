/* view.frag.glsl - TsGlView's fragment stage: pan, zoom, nearest-neighbour
 * sampling and colour mapping of one map (src/app/ts-gl-view.c).
 *
 * Contract (the Cairo twin in ts-gl-view.c, render_cpu(), computes the
 * same integers for every pixel, so both paths give identical pixels):
 *   - framebuffer pixel (px, py), row 0 at the top, has its centre at
 *     w = (px + 0.5, py + 0.5); the map pixel under it is
 *         m = floor((w - u_origin) * u_inv_zoom)
 *     (one subtraction then one multiplication, each correctly rounded in
 *     IEEE single precision: nothing here can be fused into an fma, so the
 *     CPU's float arithmetic gives the same m);
 *   - the image under the map: floor((w - u_origin) * u_img_step), clamped;
 *   - relevance: t = v * u_heat_inv (one multiplication, the same as
 *     colormap.c's ts_colormap_relevance), then the colour is
 *     colours[#{ j : breaks[j] <= t }], a table built on the CPU from
 *     colormap.c's ts_cmap_diverging at every float where its output
 *     changes, so this is colormap.c's colour for every float t; NaN is
 *     mid grey and +-Inf are the ends (the map's second channel says which);
 *   - A(x,y): categories[index], colormap.c's categorical colours;
 *   - blending over the image in integers:
 *         (image * (256 - a) + map * a + 128) >> 8,  a in 0..256;
 *   - the crosshair: a one-pixel line at framebuffer column / row
 *     u_cross, inside the map's rectangle.
 * Colours are integers 0..255 throughout and leave as c / 255.0, which the
 * 8-bit framebuffer turns back into c exactly.
 *
 * Textures (all read with texelFetch, no filtering, no normalised
 * coordinates): tables are 256 entries per row, entry i at (i & 255, i >> 8).
 */
uniform float u_fb_height;
uniform vec2 u_origin;        /* framebuffer position of the map's top-left corner */
uniform float u_inv_zoom;     /* map pixels per framebuffer pixel */
uniform ivec2 u_map_size;
uniform int u_layer;          /* 0 relevance, 1 A(x,y), 2 image only, 3 nothing */
uniform float u_heat_inv;     /* 1 / symmetric scale (0 for an all-zero map) */
uniform int u_n_breaks;
uniform int u_has_image;
uniform vec2 u_img_step;      /* image pixels per framebuffer pixel */
uniform ivec2 u_img_size;
uniform int u_alpha;          /* map weight over the image, 0..256 */
uniform int u_cross_on;
uniform ivec2 u_cross;        /* crosshair column and row (framebuffer pixels) */
uniform ivec3 u_cross_colour;
uniform ivec3 u_background;

uniform sampler2D u_heat;            /* RG32F: value, kind (0 finite, 1 NaN, 2 +Inf, 3 -Inf) */
uniform sampler2D u_breaks;          /* R32F, ascending */
uniform usampler2D u_heat_colours;   /* RGBA8UI, u_n_breaks + 1 entries */
uniform usampler2D u_amap;           /* R8UI landmark indices */
uniform usampler2D u_categories;     /* RGBA8UI, 256 entries */
uniform usampler2D u_image;          /* RGBA8UI, the face */

layout(location = 0) out vec4 frag_colour;

ivec2 table_pos(int i)
{
    return ivec2(i & 255, i >> 8);
}

ivec3 heat_colour(ivec2 m)
{
    vec2 s = texelFetch(u_heat, m, 0).rg;
    int kind = int(s.g + 0.5);
    if (kind == 1) return ivec3(128);
    float t = kind == 2 ? 1.0 : kind == 3 ? -1.0 : s.r * u_heat_inv;
    /* count the breaks <= t: binary search, at most 16 steps (65535 breaks) */
    int lo = 0, hi = u_n_breaks;
    for (int k = 0; k < 16; k++) {
        if (lo >= hi) break;
        int mid = (lo + hi) >> 1;
        if (texelFetch(u_breaks, table_pos(mid), 0).r <= t) lo = mid + 1;
        else hi = mid;
    }
    return ivec3(texelFetch(u_heat_colours, table_pos(lo), 0).rgb);
}

void main()
{
    vec2 w = vec2(gl_FragCoord.x, u_fb_height - gl_FragCoord.y);
    ivec2 px = ivec2(w);
    vec2 d = w - u_origin;
    ivec2 m = ivec2(floor(d * u_inv_zoom));
    bool inside = m.x >= 0 && m.y >= 0 && m.x < u_map_size.x && m.y < u_map_size.y;
    ivec3 c = u_background;
    if (inside && u_layer != 3) {
        ivec3 img = ivec3(0);
        if (u_has_image != 0) {
            ivec2 i = clamp(ivec2(floor(d * u_img_step)), ivec2(0), u_img_size - 1);
            img = ivec3(texelFetch(u_image, i, 0).rgb);
        }
        if (u_layer == 2) {
            c = img;
        } else {
            ivec3 v = u_layer == 0 ? heat_colour(m)
                                   : ivec3(texelFetch(u_categories, ivec2(int(texelFetch(u_amap, m, 0).r), 0), 0).rgb);
            c = u_has_image != 0 ? (img * (256 - u_alpha) + v * u_alpha + 128) >> 8 : v;
        }
        if (u_cross_on != 0 && (px.x == u_cross.x || px.y == u_cross.y)) c = u_cross_colour;
    }
    frag_colour = vec4(vec3(c) / 255.0, 1.0);
}
