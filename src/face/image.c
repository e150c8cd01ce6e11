/* image.c - decoding and encoding of ts_image (see image.h).
 *
 * Formats: PNG (libpng 1.6, spec: W3C PNG 2nd ed.), JPEG/JFIF (libjpeg-turbo,
 * ITU T.81), binary PGM "P5" (netpbm) for grey index maps.  The decoder is
 * chosen by the file's magic bytes: 89 'P' 'N' 'G' 0D 0A 1A 0A for PNG,
 * FF D8 FF for JPEG.
 *
 * Invariants:
 *   - every decoded image is RGB8 with stride == 3*width; grey, grey+alpha,
 *     RGBA, palette, 1/2/4-bit and 16-bit PNGs are converted (alpha is
 *     dropped, 16-bit samples keep their high byte), grey/CMYK/YCCK JPEGs
 *     are converted to RGB;
 *   - an untrusted file never makes us allocate for more than
 *     TS_IMAGE_MAX_SIDE per side or TS_IMAGE_MAX_PIXELS in all (callers may
 *     ask for a lower cap through ts_image_decode_limited);
 *   - the libraries' own errors (and libjpeg's corrupt-data warnings, which
 *     libjpeg would otherwise paper over with grey blocks) are caught with
 *     setjmp/longjmp and become TS_ERR_FORMAT with the library's message and
 *     the file name; nothing here exits or prints.
 */
#include "face/image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "nn/fileio.h"

/* Biggest file ts_image_load reads into memory. */
#define TS_IMAGE_MAX_FILE ((size_t)512 << 20)

static int size_ok(long w, long h, long max_pixels)
{
    return w >= 1 && h >= 1 && w <= TS_IMAGE_MAX_SIDE && h <= TS_IMAGE_MAX_SIDE &&
           (unsigned long)w * (unsigned long)h <= (unsigned long)max_pixels;
}

ts_status ts_image_init(ts_image *img, int width, int height)
{
    TS_ASSERT(img);
    memset(img, 0, sizeof *img);
    if (!size_ok(width, height, TS_IMAGE_MAX_PIXELS))
        return ts_error(TS_ERR_ARG, "image size %dx%d out of range (1..%d per side, %ld pixels)",
                        width, height, TS_IMAGE_MAX_SIDE, (long)TS_IMAGE_MAX_PIXELS);
    img->data = calloc((size_t)width * (size_t)height, 3);
    if (!img->data)
        return ts_error(TS_ERR_OOM, "out of memory for a %dx%d image", width, height);
    img->width = width;
    img->height = height;
    img->stride = 3 * width;
    return TS_OK;
}

void ts_image_clear(ts_image *img)
{
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

ts_status ts_image_copy(ts_image *dst, const ts_image *src)
{
    TS_ASSERT(dst && src && src->data);
    TS_TRY(ts_image_init(dst, src->width, src->height));
    for (int y = 0; y < src->height; y++)
        memcpy(dst->data + (size_t)y * dst->stride, src->data + (size_t)y * src->stride,
               (size_t)src->width * 3);
    return TS_OK;
}

/* ------------------------------------------------------------------ PNG */

typedef struct png_src {
    const uint8_t *buf;
    size_t len, pos;
    const char *name;
    char msg[256];
} png_src;

static void png_err_fn(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg)
{
    /* Warnings (bad ancillary chunks, unknown profiles) do not affect pixels. */
    (void)png;
    (void)msg;
}

static void png_read_fn(png_structp png, png_bytep out, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "file is truncated");
    memcpy(out, s->buf + s->pos, n);
    s->pos += n;
}

static ts_status decode_png(const uint8_t *buf, size_t len, const char *name, long max_pixels,
                            ts_image *out)
{
    /* libpng checks the size against its user limits inside png_read_info
     * and says only "Invalid IHDR data"; read IHDR's width and height
     * (bytes 16..23, big-endian, after the signature and the chunk's length
     * and type) first, to say what is wrong, as for JPEG. */
    if (len >= 24 && !memcmp(buf + 12, "IHDR", 4)) {
        unsigned long w = (unsigned long)buf[16] << 24 | (unsigned long)buf[17] << 16 | (unsigned long)buf[18] << 8 | buf[19];
        unsigned long h = (unsigned long)buf[20] << 24 | (unsigned long)buf[21] << 16 | (unsigned long)buf[22] << 8 | buf[23];
        if (w >= 1 && h >= 1 && w <= 0x7fffffffUL && h <= 0x7fffffffUL && !size_ok((long)w, (long)h, max_pixels))
            return ts_error(TS_ERR_FORMAT, "%s: PNG size %lux%lu exceeds the limit (%d per side, %ld pixels)", name, w,
                            h, TS_IMAGE_MAX_SIDE, max_pixels);
    }
    png_src src = { .buf = buf, .len = len, .pos = 0, .name = name };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_err_fn, png_warn_fn);
    if (!png) return ts_error(TS_ERR_OOM, "%s: out of memory creating a PNG reader", name);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ts_error(TS_ERR_OOM, "%s: out of memory creating a PNG reader", name);
    }
    /* Locals changed after setjmp and read after a longjmp must be volatile. */
    png_bytep *volatile rows = NULL;
    volatile ts_status st = TS_OK;
    /* The pixels go straight into *out (not a local), so that they are
     * well defined after a longjmp. */
    ts_image *img = out;

    if (setjmp(png_jmpbuf(png))) {
        if (st == TS_OK) st = ts_error(TS_ERR_FORMAT, "%s: bad PNG: %s", name, src.msg);
        free(rows);
        ts_image_clear(img);
        png_destroy_read_struct(&png, &info, NULL);
        return st;
    }
    png_set_read_fn(png, &src, png_read_fn);
    png_set_user_limits(png, TS_IMAGE_MAX_SIDE, TS_IMAGE_MAX_SIDE);
    /* Ancillary chunks (text, ICC profiles) are bounded too. */
    png_set_chunk_cache_max(png, 1000);
    png_set_chunk_malloc_max(png, 8u << 20);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    if (!size_ok((long)w, (long)h, max_pixels)) {
        st = ts_error(TS_ERR_FORMAT, "%s: PNG size %lux%lu exceeds the limit (%d per side, %ld pixels)",
                      name, (unsigned long)w, (unsigned long)h, TS_IMAGE_MAX_SIDE, max_pixels);
        png_error(png, "size");
    }
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3 || png_get_channels(png, info) != 3 ||
        png_get_bit_depth(png, info) != 8) {
        st = ts_error(TS_ERR_FORMAT, "%s: PNG colour type %d depth %d did not convert to RGB8",
                      name, ctype, depth);
        png_error(png, "convert");
    }
    if (ts_image_init(img, (int)w, (int)h) != TS_OK) {
        st = ts_error_prefix(TS_ERR_OOM, "%s: ", name);
        png_error(png, "oom");
    }
    rows = malloc(sizeof *rows * h);
    if (!rows) {
        st = ts_error(TS_ERR_OOM, "%s: out of memory", name);
        png_error(png, "oom");
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = img->data + (size_t)y * img->stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return TS_OK;
}

/* ----------------------------------------------------------------- JPEG */

typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_error_exit_fn(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jmp, 1);
}

/* libjpeg reports damaged entropy data and early EOF as warnings (level -1)
 * and keeps going with made-up pixels; a training set must not silently
 * contain those, so they stop decoding.  Extraneous bytes between markers
 * are harmless padding and are let through. */
static void jpeg_emit_fn(j_common_ptr cinfo, int level)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level >= 0) return; /* trace messages */
    if (cinfo->err->msg_code == JWRN_EXTRANEOUS_DATA) return;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jmp, 1);
}

static void jpeg_output_fn(j_common_ptr cinfo)
{
    (void)cinfo; /* never print */
}

static ts_status decode_jpeg(const uint8_t *buf, size_t len, const char *name, long max_pixels,
                             ts_image *out)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit_fn;
    err.mgr.emit_message = jpeg_emit_fn;
    err.mgr.output_message = jpeg_output_fn;
    err.msg[0] = 0;

    ts_image *img = out; /* see decode_png */
    uint8_t *volatile row = NULL;
    volatile ts_status st = TS_OK;

    if (setjmp(err.jmp)) {
        if (st == TS_OK) st = ts_error(TS_ERR_FORMAT, "%s: bad JPEG: %s", name, err.msg);
        free(row);
        ts_image_clear(img);
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    jpeg_create_decompress(&cinfo);
    /* Progressive files keep all coefficients in memory; cap it. */
    cinfo.mem->max_memory_to_use = 1024L << 20;
    if (len > ULONG_MAX) len = ULONG_MAX;
    jpeg_mem_src(&cinfo, buf, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    if (!size_ok((long)cinfo.image_width, (long)cinfo.image_height, max_pixels)) {
        st = ts_error(TS_ERR_FORMAT, "%s: JPEG size %ux%u exceeds the limit (%d per side, %ld pixels)",
                      name, cinfo.image_width, cinfo.image_height, TS_IMAGE_MAX_SIDE, max_pixels);
        longjmp(err.jmp, 1);
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    int nc = cinfo.output_components;
    if ((nc != 3 && !cmyk) || (nc != 4 && cmyk)) {
        st = ts_error(TS_ERR_FORMAT, "%s: JPEG decoded to %d components", name, nc);
        longjmp(err.jmp, 1);
    }
    if (ts_image_init(img, (int)cinfo.output_width, (int)cinfo.output_height) != TS_OK) {
        st = ts_error_prefix(TS_ERR_OOM, "%s: ", name);
        longjmp(err.jmp, 1);
    }
    if (cmyk) {
        row = malloc((size_t)img->width * 4);
        if (!row) {
            st = ts_error(TS_ERR_OOM, "%s: out of memory", name);
            longjmp(err.jmp, 1);
        }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = img->data + (size_t)cinfo.output_scanline * img->stride;
        JSAMPROW r = cmyk ? row : dst;
        if (jpeg_read_scanlines(&cinfo, &r, 1) != 1) {
            snprintf(err.msg, sizeof err.msg, "no scanline data");
            longjmp(err.jmp, 1);
        }
        if (cmyk) {
            /* Adobe writes CMYK inverted (255 = no ink): RGB = C*K/255. */
            for (int x = 0; x < img->width; x++) {
                unsigned k = row[4 * x + 3];
                for (int c = 0; c < 3; c++) dst[3 * x + c] = (uint8_t)((row[4 * x + c] * k + 127) / 255);
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    return TS_OK;
}

/* ------------------------------------------------------------ dispatch */

ts_status ts_image_decode_limited(const uint8_t *buf, size_t len, const char *name,
                                  long max_pixels, ts_image *out)
{
    TS_ASSERT(out && name);
    memset(out, 0, sizeof *out);
    if (max_pixels > TS_IMAGE_MAX_PIXELS || max_pixels < 1) max_pixels = TS_IMAGE_MAX_PIXELS;
    static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a };
    if (buf && len >= 8 && !memcmp(buf, png_magic, 8)) return decode_png(buf, len, name, max_pixels, out);
    if (buf && len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
        return decode_jpeg(buf, len, name, max_pixels, out);
    if (!buf || len == 0) return ts_error(TS_ERR_FORMAT, "%s: empty file", name);
    return ts_error(TS_ERR_FORMAT, "%s: not a PNG or JPEG file (unknown magic bytes)", name);
}

ts_status ts_image_decode(const uint8_t *buf, size_t len, const char *name, ts_image *out)
{
    return ts_image_decode_limited(buf, len, name, TS_IMAGE_MAX_PIXELS, out);
}

ts_status ts_image_load(const char *path, ts_image *out)
{
    TS_ASSERT(path && out);
    memset(out, 0, sizeof *out);
    uint8_t *buf = NULL;
    size_t len = 0;
    TS_TRY(ts_read_file(path, TS_IMAGE_MAX_FILE, &buf, &len));
    ts_status st = ts_image_decode(buf, len, path, out);
    free(buf);
    return st;
}

/* ------------------------------------------------------------- writers */

static void png_write_err_fn(png_structp png, png_const_charp msg)
{
    char *dst = png_get_error_ptr(png);
    snprintf(dst, 256, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* Writes rows of `channels` bytes per pixel (1 = grey, 3 = RGB). */
static ts_status save_png(const char *path, const uint8_t *data, int width, int height,
                          int stride, int channels)
{
    TS_ASSERT(path && data && width > 0 && height > 0 && stride >= width * channels);
    char msg[256] = "";
    ts_atomic_file af;
    TS_TRY(ts_atomic_open(&af, path));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, png_write_err_fn, png_warn_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        ts_atomic_abort(&af);
        return ts_error(TS_ERR_OOM, "%s: out of memory creating a PNG writer", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        /* libpng says "Write Error"; the stream knows the system's reason */
        ts_status st = af.sink && ferror(af.f) ? ts_error(TS_ERR_IO, "%s: write failed: %s", path, ts_atomic_strerror(&af))
                                               : ts_error(TS_ERR_IO, "%s: PNG write failed: %s", path, msg);
        ts_atomic_abort(&af);
        return st;
    }
    png_init_io(png, af.f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(data + (size_t)y * stride));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return ts_atomic_commit(&af);
}

ts_status ts_image_save_png(const char *path, const ts_image *img)
{
    TS_ASSERT(img && img->data);
    return save_png(path, img->data, img->width, img->height, img->stride, 3);
}

ts_status ts_grey_save_png(const char *path, const uint8_t *grey, int width, int height)
{
    return save_png(path, grey, width, height, width, 1);
}

ts_status ts_grey_save_pgm(const char *path, const uint8_t *grey, int width, int height)
{
    TS_ASSERT(path && grey && width > 0 && height > 0);
    ts_atomic_file af;
    TS_TRY(ts_atomic_open(&af, path));
    /* netpbm P5: "P5\n<w> <h>\n<maxval>\n" then w*h bytes, row-major. */
    fprintf(af.f, "P5\n%d %d\n255\n", width, height);
    if (fwrite(grey, 1, (size_t)width * height, af.f) != (size_t)width * height) {
        ts_status st = ts_error(TS_ERR_IO, "%s: write failed: %s", path, ts_atomic_strerror(&af));
        ts_atomic_abort(&af);
        return st;
    }
    return ts_atomic_commit(&af);
}
