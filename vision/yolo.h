/* yolo.h - darknet-format YOLO detectors from their own .cfg and .weights.

   The network is built from the cfg, section by section, exactly as darknet
   builds it (YOLOv3, YOLOv3-tiny, YOLOv4, YOLOv4-tiny, YOLOv4-csp,
   YOLOv7-tiny, the Yolo-Fastest family). Batch norm is folded into each
   convolution at load time. The forward pass returns the raw inputs of the
   [yolo] heads; decoding them into boxes (logistic, anchors, scale_x_y,
   new_coords), the per-class NMS and the mapping back to the photo happen on
   the host in yolo_boxes.c, because they are a few thousand numbers.

       iris_yolo *net;
       if (iris_yolo_load(&net, "yolo-fastest-1.1.cfg", "yolo-fastest-1.1.weights", NULL, IRIS_CPU))
           die(iris_last_error());        // "yolo-fastest-1.1.cfg:120: [route] layers=-40: no such layer"
       const iris_yolo_info *info = iris_yolo_get_info(net);
       // x [N, 3, info->height, info->width] RGB in 0..1 (a letterboxed photo)
       iris_tensor *heads[IRIS_YOLO_MAX_HEADS];
       iris_yolo_forward(ctx, net, x, heads);
       ... read heads[h] (one image: info->heads[h].channels * gh * gw floats) ...
       iris_yolo_det *dets; int n;
       iris_yolo_decode(info, (const float *const *)head_data_of_image_0, 0.25f, &dets, &n);
       iris_yolo_map_boxes(dets, n, info->width, info->height, IRIS_YOLO_FIT_LETTERBOX, photo_w, photo_h);
       iris_yolo_nms(dets, &n, info->n_classes, 0.45f, info->nms_kind, info->beta_nms);
       free(dets);
       iris_yolo_free(net);
*/
#ifndef IRIS_YOLO_H
#define IRIS_YOLO_H

#include "../core/iris.h"

typedef struct iris_yolo iris_yolo;

#define IRIS_YOLO_MAX_HEADS 8
#define IRIS_YOLO_MAX_MASK 16

typedef enum iris_yolo_nms_kind {
    IRIS_YOLO_NMS_GREEDY = 0, /* darknet's default (greedynms): IoU */
    IRIS_YOLO_NMS_DIOU,       /* diounms: IoU - (centre distance^2 / enclosing diagonal^2)^beta */
} iris_yolo_nms_kind;

/* One [yolo] layer: what its input holds and how to decode it. */
typedef struct iris_yolo_head {
    int layer;         /* index of the [yolo] section among the cfg's layers (darknet numbering) */
    int grid_w, grid_h;
    int n_anchors;     /* anchors in its mask */
    float anchors[2 * IRIS_YOLO_MAX_MASK]; /* w, h in network input pixels */
    float scale_x_y;   /* 1: plain logistic centres */
    int new_coords;    /* 1: inputs already logistic; w = 4 t^2 anchor (YOLOv4-csp, v7) */
    int channels;      /* n_anchors * (5 + classes) */
} iris_yolo_head;

typedef struct iris_yolo_info {
    int width, height, channels; /* network input (the cfg's [net], or the size asked at load) */
    int n_classes;
    int n_layers;                /* sections after [net] */
    int n_heads;
    iris_yolo_head heads[IRIS_YOLO_MAX_HEADS];
    iris_yolo_nms_kind nms_kind; /* from the first [yolo] */
    float beta_nms;              /* DIoU exponent (darknet's default 0.6) */
    double gflops;               /* multiply-adds x 2 of the convolutions, one image */
    int64_t n_params;
} iris_yolo_info;

typedef struct iris_yolo_params {
    int width, height; /* network input; 0 = the cfg's (both must be multiples of the net's total stride) */
} iris_yolo_params;

iris_yolo_params iris_yolo_default_params(void);

/* Reads the cfg and weights (p may be NULL) and puts the folded weights on `dev`.
   Every problem is an error naming the file and, for the cfg, the line. */
iris_status iris_yolo_load(iris_yolo **out, const char *cfg_path, const char *weights_path, const iris_yolo_params *p,
                           iris_device dev);
/* The same with the .weights bytes in memory (`weights_name` appears in messages). */
iris_status iris_yolo_load_mem(iris_yolo **out, const char *cfg_path, const uint8_t *weights, size_t n,
                               const char *weights_name, const iris_yolo_params *p, iris_device dev);
/* The same with the cfg text in memory too (cfg_name appears in messages). */
iris_status iris_yolo_load_text(iris_yolo **out, const char *cfg_text, size_t cfg_len, const char *cfg_name,
                                const uint8_t *weights, size_t n, const char *weights_name, const iris_yolo_params *p,
                                iris_device dev);
void iris_yolo_free(iris_yolo *net);
const iris_yolo_info *iris_yolo_get_info(const iris_yolo *net);

/* x [N, 3, height, width] F32 on the context's device. heads[h] becomes the
   input of the h-th [yolo] layer, [N, heads[h].channels, grid_h, grid_w], in
   the context's arena until the next reset. */
iris_status iris_yolo_forward(iris_ctx *ctx, const iris_yolo *net, const iris_tensor *x,
                              iris_tensor *heads[IRIS_YOLO_MAX_HEADS]);

/* ---- boxes (host side, yolo_boxes.c) ---- */

/* A candidate box. Until iris_yolo_map_boxes it is relative to the network
   input (centre and size in 0..1); after, x1..y2 are pixels of the photo. */
typedef struct iris_yolo_det {
    float cx, cy, w, h;
    float x1, y1, x2, y2;
    float objectness;
    float *prob; /* n_classes scores objectness * class probability, 0 where <= thresh */
} iris_yolo_det;

/* Darknet's get_yolo_detections for one image: heads[h] points at that
   image's n_heads inputs (channels x grid_h x grid_w floats each). A box is
   kept when its objectness > thresh; class scores not above thresh are 0.
   *dets is one malloc'd block (the prob arrays live in it): free(*dets). */
iris_status iris_yolo_decode(const iris_yolo_info *info, const float *const *heads, float thresh, iris_yolo_det **dets,
                             int *n);
/* darknet do_nms_sort / diounms_sort: per class, greedy by that class's
   score, zeroing the later boxes that overlap a kept one by more than
   `iou`. Boxes left with no score are dropped from the list. Run it after
   iris_yolo_map_boxes, as darknet does: DIoU depends on the box proportions. */
void iris_yolo_nms(iris_yolo_det *dets, int *n, int n_classes, float iou, iris_yolo_nms_kind kind, float beta);

/* How the photo was placed in the network input. */
typedef enum iris_yolo_fit {
    IRIS_YOLO_FIT_LETTERBOX = 0, /* aspect kept, centred; darknet's correction (a half-margin offset in float) */
    IRIS_YOLO_FIT_STRETCH,       /* plain resize to the input size */
    IRIS_YOLO_FIT_LETTERBOX_EXACT, /* as LETTERBOX, undone at the integer offset where the pixels really are */
} iris_yolo_fit;

/* Darknet's correct_yolo_boxes, then pixels of a photo_w x photo_h photo (not clamped). */
void iris_yolo_map_boxes(iris_yolo_det *dets, int n, int net_w, int net_h, iris_yolo_fit fit, int photo_w,
                         int photo_h);

/* ---- the whole job for a batch of photos (yolo_detect.c) ---- */

/* How a photo becomes the network input. */
typedef enum iris_yolo_resize {
    IRIS_YOLO_DARKNET = 0, /* darknet's letterbox_image: its own bilinear resize, 0.5 grey margins */
    IRIS_YOLO_OPENCV,      /* the same geometry resized like cv2.resize(INTER_LINEAR) */
    IRIS_YOLO_STRETCH,     /* plain resize to the input size, aspect not kept */
} iris_yolo_resize;

/* A photo as RGB floats in 0..1, CHW, the network's input size: 3 * width * height floats in dst. */
iris_status iris_yolo_preprocess(const iris_yolo_info *info, const iris_image *photo, iris_yolo_resize how,
                                 float *dst);

typedef struct iris_detection {
    int class_id;
    float score;          /* objectness x class probability */
    float x1, y1, x2, y2; /* pixels of the photo, not clamped */
} iris_detection;

typedef struct iris_yolo_detect_params {
    float thresh;         /* 0.25: keep scores above */
    float nms;            /* 0.45: IoU (or DIoU, as the cfg says) above which a weaker box of the class goes */
    iris_yolo_resize how; /* how the inputs were made (for mapping boxes back) */
} iris_yolo_detect_params;

iris_yolo_detect_params iris_yolo_default_detect_params(void);

/* Runs x [N, 3, height, width] (made by iris_yolo_preprocess, on the context's
   device) and returns per image a malloc'd array of detections, strongest first:
   one entry per (box, class) above the threshold, as darknet lists them.
   photo_w/photo_h give each photo's size. free() each dets[i]. */
iris_status iris_yolo_detect(iris_ctx *ctx, const iris_yolo *net, const iris_tensor *x, const int *photo_w,
                             const int *photo_h, const iris_yolo_detect_params *p, iris_detection **dets, int *n_dets);

#endif
