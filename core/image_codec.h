/* image_codec.h - what the decoders in core/image_*.c share with image.c; not public API.

   Each decoder fills `img` with stored (not yet upright) pixels, or leaves it
   zeroed and returns an error naming the file; *orient receives the file's
   orientation (1..8, 0 if none) for iris_image_decode to apply. */
#ifndef IRIS_IMAGE_CODEC_H
#define IRIS_IMAGE_CODEC_H

#include "image.h"

/* Refuses sizes below 1 or above p's limits, naming the file and format (image.c). */
iris_status iris_image_check_limits(const char *name, const char *fmt, long long w, long long h,
                                    const iris_image_read_params *p);

iris_status iris_image_decode_webp(iris_image *img, const uint8_t *buf, size_t n, const char *name,
                                   const iris_image_read_params *p, int *orient);
iris_status iris_image_decode_tiff(iris_image *img, const uint8_t *buf, size_t n, const char *name,
                                   const iris_image_read_params *p, int *orient);

#endif
