/* image.h - placeholder, being written. */
#ifndef IRIS_IMAGE_H
#define IRIS_IMAGE_H
#include "tensor.h"
#endif
