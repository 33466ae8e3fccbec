/* image_draw.h - boxes, labels and text drawn into images, for annotated outputs (detect --draw).

       uint8_t col[3];
       iris_image_class_color(16, col);                       // the same colour for class 16 every run
       iris_image_draw_label_box(&img, 120.4f, 80, 410, 300.7f, col, "dog 0.93", 0, 0);
       iris_image_save("dog_boxes.jpg", &img, NULL, 0);

   Everything is clipped to the image: coordinates far outside it, huge, or
   (for the float ones) infinite draw what lies inside and never write out of
   bounds. Colours are RGB; a gray image (c = 1) gets the colour's luma
   (BT.601, as iris_image_convert), an RGBA one alpha 255. Pixels are
   replaced, not blended. Integer rectangles include both corners, given in
   any order.

   Text uses a built-in bitmap font (our own 5x7 design in a 6 x 10 cell:
   one blank row on top, two for descenders, one blank column on the right)
   for printable ASCII 32..126; any other character (a control byte, or one
   UTF-8 sequence) is drawn as '?'. `scale` >= 1 enlarges every font pixel to
   scale x scale. One line: '\n' is not special.
*/
#ifndef IRIS_IMAGE_DRAW_H
#define IRIS_IMAGE_DRAW_H

#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IRIS_FONT_W 6   /* cell width in font pixels */
#define IRIS_FONT_H 10  /* cell height in font pixels */
#define IRIS_FONT_MAX_SCALE 256

/* Fills pixels x0..x1, y0..y1. */
iris_status iris_image_fill_rect(iris_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3]);
/* Outline `thickness` (>= 1) pixels wide lying inside the rectangle x0..x1,
   y0..y1 (a thickness reaching the middle fills it). */
iris_status iris_image_draw_rect(iris_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3], int thickness);

/* Size of `text` drawn at `scale` (values below 1 count as 1): w = characters
   * 6 * scale, h = 10 * scale (0 x 10 * scale for ""), at most INT_MAX. */
void iris_image_text_size(const char *text, int scale, int *w, int *h);
/* Draws `text` with the top-left corner of its box at (x, y); only the
   glyphs' pixels are set, every one of them inside that box. */
iris_status iris_image_draw_text(iris_image *img, int x, int y, const char *text, const uint8_t rgb[3], int scale);

/* A colour for class `id`: hues a golden-ratio turn apart (id 0 red, then
   well separated for neighbouring ids), saturation 0.75, value 0.95. */
void iris_image_class_color(int id, uint8_t rgb[3]);

/* A detector's box as people expect to see it: the outline of the box
   [x1, x2) x [y1, y2) in pixel coordinates (pixels floor(x1)..ceil(x2)-1,
   corners in any order), and `label` (NULL or "" for none) in black or
   white, whichever contrasts more with `rgb`, on a filled band of `rgb`
   just above the box, or inside its top when there is no room above; the
   band is shifted left to stay inside the image. thickness and text_scale
   0 choose from the image size (about 1/300 and 1/400 of its shorter side).
   NaN coordinates are IRIS_ERR_ARG and draw nothing; a box that misses the
   image draws nothing. */
iris_status iris_image_draw_label_box(iris_image *img, float x1, float y1, float x2, float y2, const uint8_t rgb[3],
                                      const char *label, int thickness, int text_scale);

#ifdef __cplusplus
}
#endif
#endif
