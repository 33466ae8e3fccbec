/* darknet.h - placeholder, being written. */
#ifndef IRIS_DARKNET_H
#define IRIS_DARKNET_H
#include "tensor.h"
#endif
