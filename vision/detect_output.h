/* detect_output.h - what the detect tool writes: its JSON lines, YOLO label files and COCO
   results, each readable by the tools people feed them to. */
#ifndef IRIS_DETECT_OUTPUT_H
#define IRIS_DETECT_OUTPUT_H

#include <cjson/cJSON.h>

#include "../core/image.h"
#include "yolo.h"

/* {"file": ..., "width": W, "height": H, "detections": [{"class_id", "name", "score", "box": [x1, y1, x2, y2]}]}
   names may be NULL (or shorter than a class id: no "name"). */
cJSON *iris_detect_record(const char *file, int width, int height, const iris_detection *d, int n,
                          const char *const *names, int n_names);

/* A YOLO label file: one "class cx cy w h" line per box, relative to the photo, boxes clipped to it
   (training tools reject coordinates outside 0..1). An empty file for no boxes. Written atomically. */
iris_status iris_detect_write_yolo_txt(const char *path, const iris_detection *d, int n, int width, int height);

/* COCO's category id for each of 80 COCO class names in darknet order (1..90 with gaps);
   NULL when the names are not COCO's. */
const int *iris_detect_coco80_ids(const char *const *names, int n_names);

/* COCO results JSON ([{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]) from every
   record of a detections.jsonl. Image ids come from `annotations` (a COCO annotations file,
   matched by file name) when given, else from a file name that is all digits
   (000000397133.jpg -> 397133), else the record's line number. Category ids come from the
   annotations' categories by name, else the COCO 80-class table, else class_id. */
iris_status iris_detect_write_coco(const char *out_path, const char *jsonl_path, const char *annotations,
                                   const char *const *names, int n_names);

/* Draws the boxes with their labels ("dog 0.93") into img, a colour per class. */
iris_status iris_detect_draw(iris_image *img, const iris_detection *d, int n, const char *const *names, int n_names);

/* The path of `file` below the folder it was found in (a file named directly: its name). */
const char *iris_detect_relative(const char *file, const char *const *roots, int n_roots);

#endif
