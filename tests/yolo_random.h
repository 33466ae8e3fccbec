/* yolo_random.h - deterministic random darknet .weights and inputs for YOLO tests (test-side only).

   The bytes equal those of tests/ref/yolo_random.py, which made the OpenCV DNN
   fixtures in tests/ref/yolo/ (README there), so a model test needs no weights file:

       uint8_t *w; size_t n;
       if (yolo_random_weights("../shared/data/yolo/cfg/yolov3-tiny.cfg", 1, &w, &n)) puts(iris_last_error());
       iris_darknet_weights dw;
       iris_darknet_weights_parse(&dw, w, n, "yolov3-tiny random");   // ... build the model ...
       float x[3 * 128 * 128];
       yolo_random_input(1, x, 3 * 128 * 128);                          // NCHW [1, 3, 128, 128]
       free(w);

   Spec (the same text heads tests/yolo_random.c and tests/ref/yolo_random.py):
   splitmix64 draws u in (-1, 1); per [convolutional] in cfg order biases 0.1u, and with
   batch_normalize scales 1+0.2u, rolling_mean 0.1u, rolling_var 1+0.5u, then weights
   u * gain * sqrt(A/fan_in) with A = 6 (3 for activation=linear) and gain = 0.2 for the
   last conv before a [shortcut] (skipping [dropout]), else 1. The input uses seed + 1.

   The conv input channels come from this file's own shape walker over the cfg
   (route with several layers and groups/group_id, shortcut, maxpool, avgpool,
   upsample, yolo, dropout), deliberately separate from the model code. */
#ifndef IRIS_TESTS_YOLO_RANDOM_H
#define IRIS_TESTS_YOLO_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#include "../core/darknet.h"

/* The whole .weights file for cfg_path (major 0, minor 2, revision 5, seen 0) in a
   malloc'd *buf of *n bytes; the caller frees it. Returns an iris_status; on failure
   *buf is NULL and iris_last_error() names the cfg line. The [net] width/height do
   not change the bytes. */
int yolo_random_weights(const char *cfg_path, uint64_t seed, uint8_t **buf, size_t *n);
/* Same on an open cfg (its options get marked used). */
int yolo_random_weights_cfg(iris_darknet_cfg *cfg, uint64_t seed, uint8_t **buf, size_t *n);

/* n floats (u + 1) / 2 in (0, 1) from the stream seeded with seed + 1: the network
   input, NCHW, for the same seed as the weights. */
void yolo_random_input(uint64_t seed, float *x, size_t n);

#endif
