/* sniff.c - is this file an image? Decided from its first bytes, because
   folders hold .jpg files that are HTML error pages and photos without any
   extension. TGA alone has no signature and goes by its name. */
#include <string.h>
#include <strings.h>

#include "cli.h"

static unsigned rd_le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (unsigned)p[3] << 24; }

static int has_ext(const char *name, const char *ext) {
    if (!name) return 0;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    return dot && dot != base && !strcasecmp(dot + 1, ext);
}

iris_cli_image_kind iris_cli_sniff(const uint8_t *b, size_t n, const char *name) {
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (b && n >= 8 && !memcmp(b, png, 8)) return IRIS_CLI_PNG;
    if (b && n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return IRIS_CLI_JPEG;
    if (b && n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return IRIS_CLI_GIF;
    if (b && n >= 18 && b[0] == 'B' && b[1] == 'M') {
        /* "BM" alone starts plenty of text files; the DIB header size must be a known one */
        unsigned h = rd_le32(b + 14);
        if (h == 12 || h == 40 || h == 52 || h == 56 || h == 64 || h == 108 || h == 124) return IRIS_CLI_BMP;
    }
    if (b && n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return IRIS_CLI_WEBP;
    if (b && n >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '6') &&
        (b[2] == ' ' || b[2] == '\t' || b[2] == '\n' || b[2] == '\r' || b[2] == '#'))
        return IRIS_CLI_PNM;
    if (b && n >= 4 && ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0) ||
                        (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43))))
        return IRIS_CLI_TIFF;
    if (b && n >= 6 && !memcmp(b, "8BPS", 4) && b[4] == 0 && b[5] == 1) return IRIS_CLI_PSD;
    if (n > 0 && has_ext(name, "tga")) return IRIS_CLI_TGA;
    return IRIS_CLI_NOT_IMAGE;
}

const char *iris_cli_image_kind_name(iris_cli_image_kind k) {
    switch (k) {
    case IRIS_CLI_JPEG: return "jpeg";
    case IRIS_CLI_PNG: return "png";
    case IRIS_CLI_GIF: return "gif";
    case IRIS_CLI_BMP: return "bmp";
    case IRIS_CLI_WEBP: return "webp";
    case IRIS_CLI_PNM: return "pnm";
    case IRIS_CLI_TIFF: return "tiff";
    case IRIS_CLI_PSD: return "psd";
    case IRIS_CLI_TGA: return "tga";
    case IRIS_CLI_NOT_IMAGE: break;
    }
    return "none";
}
