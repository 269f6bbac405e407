/* Kiln's TensorRT bridge: a pure C interface over TensorRT's C++ API.
 *
 * Opaque handles, status codes, and a caller-provided error buffer on every fallible call
 * (`error`, `error_size`; always NUL-terminated, may be NULL). TensorRT itself is loaded at run
 * time with dlopen (libnvinfer.so.<major>, libnvonnxparser.so.<major>, libnvinfer_plugin.so.<major>),
 * so Kiln starts on machines without it. The real implementation is compiled when <NvInfer.h> is
 * found with CUDA's cuda_runtime_api.h and NvOnnxParser.h (see Package.swift for where they are looked for);
 * otherwise every call except the version probe returns KILN_TRT_UNAVAILABLE with the message
 * "built without TensorRT headers". TensorRT 8.x and 10.x differences stay inside the bridge. */
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
    /** The bridge was built without TensorRT headers (stub). */
    KILN_TRT_UNAVAILABLE = 1,
    /** libnvinfer / libnvonnxparser could not be loaded, or lacks an entry point. */
    KILN_TRT_LIBRARY_NOT_FOUND = 2,
    /** The loaded library's major version differs from the headers the bridge was built with. */
    KILN_TRT_VERSION_MISMATCH = 3,
    /** The ONNX parser rejected the model; the error names each failing node. */
    KILN_TRT_PARSE_FAILED = 4,
    /** A configuration value is invalid (unknown input in a shape profile, missing profile, …). */
    KILN_TRT_INVALID_ARGUMENT = 5,
    /** The builder returned no engine for a reason other than memory. */
    KILN_TRT_BUILD_FAILED = 6,
    /** The build failed for memory: an error-severity allocation failure or out of memory (the
     *  "Tactic Device request … Available" warnings of successful builds do not count). */
    KILN_TRT_OUT_OF_MEMORY = 7,
    /** The plan could not be deserialized (corrupt, or built by another TensorRT/device). */
    KILN_TRT_DESERIALIZE_FAILED = 8,
    /** Setting shapes/addresses or enqueueing failed. */
    KILN_TRT_EXECUTION_FAILED = 9,
    /** The progress callback asked to stop. */
    KILN_TRT_CANCELLED = 10,
    /** "Could not find any implementation for node" (Error Code 10): a larger workspace may help. */
    KILN_TRT_NO_IMPLEMENTATION = 11,
} kiln_trt_status;

/** 1 when the bridge was compiled against TensorRT headers, 0 for the stub. */
int kiln_trt_compiled_with_headers(void);

/** Why the bridge is the stub (names the missing header and the fix), or NULL for the real bridge. */
const char* kiln_trt_stub_reason(void);

/** What the bridge was compiled against, for `kiln --version` and `kiln doctor`:
 *  "TensorRT 10.3.0 headers", or "stub (<reason>)". */
const char* kiln_trt_bridge_description(void);

/** The headers' version as major*10000 + minor*100 + patch (100100 for 10.1.0), 0 for the stub. */
int32_t kiln_trt_header_version(void);

/** Loads libnvinfer (newest known soname first, or `library_path`) and reads `getInferLibVersion()`
 *  without needing headers; works in the stub too. `version` receives the raw value
 *  (TensorRT 8: major*1000+minor*100+patch; TensorRT 10: major*10000+minor*100+patch) and
 *  `loaded_name` the soname that loaded. */
kiln_trt_status kiln_trt_probe_version(const char* library_path, int32_t* version, char* loaded_name,
                                       size_t loaded_name_size, char* error, size_t error_size);

/** Loaded TensorRT libraries: libnvinfer, the ONNX parser, and (optionally) the plugins. */
typedef struct kiln_trt_library kiln_trt_library;

/** Loads TensorRT; `directory` (may be NULL) is searched before the default library path. */
kiln_trt_status kiln_trt_library_open(const char* directory, kiln_trt_library** out, char* error, size_t error_size);
/** Unloads (the libraries stay mapped; TensorRT does not support dlclose). */
void kiln_trt_library_close(kiln_trt_library* library);
/** `getInferLibVersion()` of the loaded library (raw encoding, see kiln_trt_probe_version). */
int32_t kiln_trt_library_version(const kiln_trt_library* library);
/** `getInferLibBuildVersion()` (TensorRT >= 10), or -1 where the library has none. */
int32_t kiln_trt_library_build_version(const kiln_trt_library* library);
/** The CUDA runtime version TensorRT loaded (`cudaRuntimeGetVersion`, TensorRT 8 links cudart
 *  dynamically), or -1 where it is linked statically (TensorRT 10). */
int32_t kiln_trt_library_cudart_version(const kiln_trt_library* library);

/** Log severities, as TensorRT's ILogger::Severity (0 internal error … 4 verbose). */
typedef void (*kiln_trt_log_fn)(void* user, int32_t severity, const char* message);
/** Build progress (TensorRT >= 10): a phase and its step; return 0 to cancel the build. */
typedef int32_t (*kiln_trt_progress_fn)(void* user, const char* phase, const char* parent, int32_t step, int32_t steps);

/** Maximum tensor rank the bridge passes. */
#define KILN_TRT_MAX_DIMS 8

/** Min/opt/max shapes of one dynamic input for the optimization profile. */
typedef struct kiln_trt_shape_profile {
    const char* input;
    int32_t nb_dims;
    int64_t min[KILN_TRT_MAX_DIMS];
    int64_t opt[KILN_TRT_MAX_DIMS];
    int64_t max[KILN_TRT_MAX_DIMS];
} kiln_trt_shape_profile;

/** Everything the builder is configured with; see TensorRTBuildConfiguration in Swift. */
typedef struct kiln_trt_build_config {
    /** Workspace memory-pool limit in bytes (setMemoryPoolLimit, or setMaxWorkspaceSize before 8.4). */
    uint64_t workspace_bytes;
    int32_t fp16;
    int32_t int8;
    /** bfloat16 (TensorRT >= 9; ignored with a warning before). */
    int32_t bf16;
    /** INT8 calibration cache (INT8 without one needs an explicitly quantized model); may be NULL. */
    const char* calibration_cache_path;
    const kiln_trt_shape_profile* profiles;
    int32_t nb_profiles;
    /** DLA core, or -1 for the GPU; with a DLA core GPU fallback is enabled. */
    int32_t dla_core;
    /** Builder optimization level 0-5 (TensorRT >= 8.6), or -1 for TensorRT's default. */
    int32_t optimization_level;
    /** 1 to switch the tactic sources below on (1) or off (0) relative to TensorRT's defaults, as
     *  trtexec's --tacticSources=+X,-Y does; cuBLAS/cuDNN apply before TensorRT 10 only. */
    int32_t set_tactic_sources;
    int32_t tactic_cublas;
    int32_t tactic_cublas_lt;
    int32_t tactic_cudnn;
    int32_t tactic_edge_mask;
    /** The ONNX file's path, so the parser finds external weights beside it; may be NULL. */
    const char* model_path;
    /** Timing cache loaded before and saved (atomically) after the build; may be NULL. */
    const char* timing_cache_path;
    /** 1 to build a strongly typed network (TensorRT >= 10: the model's types decide precision and the
     *  fp16/int8/bf16 flags are not set); TensorRT 11 builds only strongly typed networks. */
    int32_t strongly_typed;
    kiln_trt_log_fn log;
    kiln_trt_progress_fn progress;
    void* user;
} kiln_trt_build_config;

/** Parses `onnx` and builds a serialized engine (plan) into `*plan` (free with kiln_trt_free). */
kiln_trt_status kiln_trt_build(kiln_trt_library* library, const void* onnx, size_t onnx_size,
                               const kiln_trt_build_config* config, void** plan, size_t* plan_size,
                               char* error, size_t error_size);
/** Frees memory the bridge returned. */
void kiln_trt_free(void* pointer);

/** A deserialized engine with one execution context. */
typedef struct kiln_trt_engine kiln_trt_engine;

/** One input or output of an engine. Element types use ONNX's TensorProto numbering. */
typedef struct kiln_trt_io_info {
    char name[256];
    int32_t is_input;
    int32_t element_type;
    int32_t nb_dims;
    /** -1 marks a dynamic dimension. */
    int64_t dims[KILN_TRT_MAX_DIMS];
} kiln_trt_io_info;

/** Deserializes a plan; `dla_core` (-1 for none) is set on the runtime before deserializing. */
kiln_trt_status kiln_trt_engine_load(kiln_trt_library* library, const void* plan, size_t plan_size, int32_t dla_core,
                                     kiln_trt_log_fn log, void* user, kiln_trt_engine** out,
                                     char* error, size_t error_size);
void kiln_trt_engine_destroy(kiln_trt_engine* engine);
/** Inputs and outputs (IO tensors on TensorRT 10, bindings on 8). */
int32_t kiln_trt_engine_io_count(const kiln_trt_engine* engine);
kiln_trt_status kiln_trt_engine_io_info(const kiln_trt_engine* engine, int32_t index, kiln_trt_io_info* info,
                                        char* error, size_t error_size);
/** Sets a dynamic input's shape on the execution context. */
kiln_trt_status kiln_trt_engine_set_input_shape(kiln_trt_engine* engine, const char* name, const int64_t* dims,
                                                int32_t nb_dims, char* error, size_t error_size);
/** A tensor's shape on the context (outputs resolve once all input shapes are set). */
kiln_trt_status kiln_trt_engine_tensor_shape(const kiln_trt_engine* engine, const char* name, int64_t* dims,
                                             int32_t* nb_dims, char* error, size_t error_size);
/** Binds a tensor to a device address. */
kiln_trt_status kiln_trt_engine_set_tensor_address(kiln_trt_engine* engine, const char* name, void* device_address,
                                                   char* error, size_t error_size);
/** Allocates `size` bytes of device memory (at least 256-byte aligned) for output `name` and
 *  returns its device address, or NULL when it cannot. */
typedef void* (*kiln_trt_output_alloc_fn)(void* user, const char* name, uint64_t size);
/** Routes output `name`, whose shape depends on the input data (`kiln_trt_engine_tensor_shape`
 *  reports -1 for it once the inputs are set), through `alloc`: TensorRT asks for its memory
 *  during the enqueue, when the size is known (IOutputAllocator, TensorRT >= 10; on 8.x this
 *  returns KILN_TRT_UNAVAILABLE with the reason). Once per output; `user` must outlive the engine. */
kiln_trt_status kiln_trt_engine_set_output_allocator(kiln_trt_engine* engine, const char* name, kiln_trt_output_alloc_fn alloc,
                                                     void* user, char* error, size_t error_size);
/** The shape TensorRT reported during the last enqueue for an output routed through an allocator. */
kiln_trt_status kiln_trt_engine_output_shape(const kiln_trt_engine* engine, const char* name, int64_t* dims, int32_t* nb_dims,
                                             char* error, size_t error_size);
/** Enqueues inference on a CUDA stream (enqueueV3 on 10, enqueueV2 on 8). */
kiln_trt_status kiln_trt_engine_enqueue(kiln_trt_engine* engine, void* cuda_stream, char* error, size_t error_size);

#ifdef __cplusplus
}
#endif
#endif
