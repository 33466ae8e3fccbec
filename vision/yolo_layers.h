/* yolo_layers.h - the darknet layer kinds a YOLO cfg is made of (internal to vision/).

   Each kind lives in its own file (yolo_conv.c, yolo_pool.c, ...) as a pair of
   functions: `parse` reads its cfg section, works out its output shape from
   the layers before it and takes its weights from the .weights cursor;
   `forward` is its part of the forward pass, written against core/ops.h.
   yolo_net.c walks the cfg and dispatches on the section name. */
#ifndef IRIS_YOLO_LAYERS_H
#define IRIS_YOLO_LAYERS_H

#include "../core/darknet.h"
#include "yolo.h"

#define YOLO_MAX_INPUTS 16

typedef struct yolo_layer {
    const struct yolo_kind *kind;
    int line;        /* of the [section] header */
    int c, h, w;     /* output shape, one image */
    int n_in;        /* route: layers joined; shortcut: the other addend */
    int in[YOLO_MAX_INPUTS];
    /* convolutional */
    iris_tensor *weight, *bias;
    iris_conv2d_params conv;
    /* pooling, upsample */
    iris_pool2d_params pool;
    int global, stride;
    /* route: channel slice of each input */
    int groups, group_id;
    /* shortcut: activation */
    iris_act act;
    float alpha;
    /* yolo: index into info.heads */
    int head;
} yolo_layer;

/* What a parse function sees. */
typedef struct yolo_build {
    const char *cfg_path;
    iris_darknet_section *s;
    int index;                 /* this layer's number (darknet's, [net] not counted) */
    yolo_layer *layers;        /* layers[0..index-1] are built */
    int in_c, in_h, in_w;      /* output of the previous layer (the network input for layer 0) */
    iris_darknet_weights *weights;
    iris_device dev;
    iris_yolo_info *info;
} yolo_build;

typedef struct yolo_kind {
    const char *name; /* the section name */
    iris_status (*parse)(yolo_build *b, yolo_layer *l);
    /* in = the previous layer's output; outs[0..i-1] = every earlier layer's */
    iris_tensor *(*forward)(iris_ctx *ctx, const yolo_layer *l, const iris_tensor *in, iris_tensor *const *outs);
} yolo_kind;

extern const yolo_kind yolo_conv_kind, yolo_maxpool_kind, yolo_avgpool_kind, yolo_route_kind, yolo_shortcut_kind,
    yolo_upsample_kind, yolo_head_kind, yolo_dropout_kind;

/* "cfg:line: [type] message" as IRIS_ERR_FORMAT (or `st`). */
iris_status yolo_error(const yolo_build *b, iris_status st, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The option's line, or the section's when absent. */
int yolo_line(const yolo_build *b, const char *key);
/* activation=... (conv and shortcut): linear, leaky, relu, logistic, tanh, mish, swish. */
iris_status yolo_activation(yolo_build *b, iris_act *act, float *alpha);
/* A layer index as darknet reads it: negative counts back from this layer. */
iris_status yolo_layer_ref(yolo_build *b, const char *key, int v, int *out);
/* Marks options that only matter for training as read. */
void yolo_ignore(iris_darknet_section *s, const char *const *keys);

#endif
