/* Kiln's TensorRT bridge: a pure C interface (opaque handles, status codes, caller-provided
 * error buffers). The implementation is C++ and is compiled against TensorRT headers when
 * they are found; otherwise every call reports KILN_TRT_UNAVAILABLE. */
#ifndef KILN_TRT_H
#define KILN_TRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes returned by every bridge call. */
typedef enum kiln_trt_status {
    KILN_TRT_OK = 0,
    KILN_TRT_UNAVAILABLE = 1,
} kiln_trt_status;

/** 1 when the bridge was compiled against TensorRT headers, 0 for the stub. */
int kiln_trt_compiled_with_headers(void);

#ifdef __cplusplus
}
#endif
#endif
