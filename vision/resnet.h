/* resnet.h - ResNet image classifiers from .safetensors.

   Reads ResNet-18/34/50/101/152 (torchvision or timm tensor names) and the
   CIFAR ResNet-20/32/44/56 (3x3 stem, three stages, parameter-free
   "option A" shortcuts). The architecture comes from the tensor names and
   shapes; nothing needs to be told. Batch norm is folded into the
   convolutions at load time, so a forward pass is conv+bias(+ReLU) only.

       iris_resnet *net;
       if (iris_resnet_load(&net, "resnet50.safetensors", IRIS_CPU)) die(iris_last_error());
       const iris_resnet_info *info = iris_resnet_get_info(net);
       // x: [N, 3, info->input_size, info->input_size] F32 on the context's device, normalised
       iris_tensor *logits, *features;
       iris_resnet_forward(ctx, net, x, &logits, &features);   // [N, classes], [N, feature_dim]
       iris_resnet_free(net);
*/
#ifndef IRIS_RESNET_H
#define IRIS_RESNET_H

#include "../core/iris.h"

typedef struct iris_resnet iris_resnet;

typedef struct iris_resnet_info {
    char arch[32];      /* "resnet50", "resnet20-cifar", ... */
    int cifar;          /* 1: CIFAR-style net (32x32 input) */
    int bottleneck;     /* 1: bottleneck blocks (ResNet-50 and deeper) */
    int depth;          /* 18, 34, 50, ..., 20, 32, ... */
    int blocks[4];      /* blocks per stage */
    int n_stages;
    int n_classes;
    int feature_dim;    /* width of the pooled embedding */
    int input_size;     /* 224 for ImageNet models, 32 for CIFAR */
    int resize_size;    /* shorter side before the centre crop (256); = input_size for CIFAR */
    float mean[3], std[3]; /* RGB normalisation the weights were trained with */
} iris_resnet_info;

/* Loads weights to `dev` (weights are copied there; the file is closed before returning). */
iris_status iris_resnet_load(iris_resnet **out, const char *path, iris_device dev);
void iris_resnet_free(iris_resnet *net);
const iris_resnet_info *iris_resnet_get_info(const iris_resnet *net);

/* x [N, 3, H, W] normalised RGB on the context's device. Either output pointer may be NULL.
   Outputs live in the context arena until the next reset. */
iris_status iris_resnet_forward(iris_ctx *ctx, const iris_resnet *net, const iris_tensor *x, iris_tensor **logits,
                                iris_tensor **features);

#endif
