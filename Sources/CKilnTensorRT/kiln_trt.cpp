// Kiln's TensorRT bridge. See include/kiln_trt.h for the contract.
//
// Everything TensorRT-version-specific is in this file, behind NV_TENSORRT_MAJOR/MINOR checks.
// TensorRT is never linked: the *_INTERNAL factory functions and getInferLibVersion are resolved
// with dlsym, and every other call is an inline method of TensorRT's interface classes.
#include "kiln_trt.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

namespace {

void set_error(char* error, size_t size, const char* format, ...) {
    if (error == nullptr || size == 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(error, size, format, args);
    va_end(args);
}

const char* const kNvinferNames[] = {"libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so.9", "libnvinfer.so.11", "libnvinfer.so"};

typedef int32_t (*GetVersionFn)();

// Opens the first of `names` (inside `directory` when given, then by soname).
void* open_first(const char* directory, const std::vector<std::string>& names, int flags, std::string* loaded, std::string* reasons) {
    for (const std::string& name : names) {
        if (directory != nullptr && directory[0] != 0) {
            std::string path = std::string(directory) + "/" + name;
            if (void* h = dlopen(path.c_str(), flags)) { *loaded = path; return h; }
            const char* e = dlerror();
            if (e) *reasons += (reasons->empty() ? "" : "; ") + std::string(e);
        }
        if (void* h = dlopen(name.c_str(), flags)) { *loaded = name; return h; }
        const char* e = dlerror();
        if (e) *reasons += (reasons->empty() ? "" : "; ") + std::string(e);
    }
    return nullptr;
}

}  // namespace

extern "C" kiln_trt_status kiln_trt_probe_version(const char* library_path, int32_t* version, char* loaded_name,
                                                  size_t loaded_name_size, char* error, size_t error_size) {
    std::vector<std::string> names;
    if (library_path != nullptr && library_path[0] != 0) names.push_back(library_path);
    else for (const char* n : kNvinferNames) names.push_back(n);
    std::string loaded, reasons;
    void* h = open_first(nullptr, names, RTLD_LAZY | RTLD_LOCAL, &loaded, &reasons);
    if (h == nullptr) {
        set_error(error, error_size, "TensorRT not found: could not load libnvinfer (%s); install JetPack's libnvinfer (TensorRT)", reasons.c_str());
        return KILN_TRT_LIBRARY_NOT_FOUND;
    }
    GetVersionFn get = reinterpret_cast<GetVersionFn>(dlsym(h, "getInferLibVersion"));
    if (get == nullptr) {
        set_error(error, error_size, "%s has no getInferLibVersion", loaded.c_str());
        return KILN_TRT_LIBRARY_NOT_FOUND;
    }
    if (version) *version = get();
    if (loaded_name && loaded_name_size) snprintf(loaded_name, loaded_name_size, "%s", loaded.c_str());
    return KILN_TRT_OK;
}

extern "C" void kiln_trt_free(void* pointer) { free(pointer); }

// The real bridge needs TensorRT's NvInfer.h and NvOnnxParser.h and CUDA's cuda_runtime_api.h
// (which NvInfer.h includes); Package.swift finds their folders. When one is missing the bridge
// compiles to the stub, and the stub's reason names the missing header and the fix.
#if !__has_include(<NvInfer.h>)
#define KILN_TRT_STUB_REASON \
    "built without TensorRT headers: NvInfer.h was not found at build time (looked in TENSORRT_INCLUDE, " \
    "/usr/include/aarch64-linux-gnu, /usr/include/x86_64-linux-gnu); on a Jetson install libnvinfer-dev (JetPack) and rebuild Kiln"
#elif !__has_include(<cuda_runtime_api.h>)
#define KILN_TRT_STUB_REASON \
    "built without TensorRT: NvInfer.h was found but CUDA's cuda_runtime_api.h, which it includes, was not (looked in " \
    "CUDA_INCLUDE, CUDA_HOME/include, CUDA_PATH/include, /usr/local/cuda/include, /usr/local/cuda-*/include); install " \
    "JetPack's CUDA toolkit (cuda-cudart-dev) or set CUDA_INCLUDE, and rebuild Kiln"
#elif !__has_include(<NvOnnxParser.h>)
#define KILN_TRT_STUB_REASON \
    "built without TensorRT: NvInfer.h was found but the ONNX parser's NvOnnxParser.h was not; install " \
    "libnvonnxparsers-dev (JetPack) and rebuild Kiln"
#endif

#if defined(KILN_TRT_REQUIRE_REAL) && defined(KILN_TRT_STUB_REASON)
#error KILN_TRT_STUB_REASON
#endif

#ifndef KILN_TRT_STUB_REASON
// ============================================================================================
// Real implementation.
// ============================================================================================
#include <NvInfer.h>
#include <NvOnnxParser.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define KILN_TRT_AT_LEAST(major, minor) \
    (NV_TENSORRT_MAJOR > (major) || (NV_TENSORRT_MAJOR == (major) && NV_TENSORRT_MINOR >= (minor)))

namespace {

typedef void* (*CreateBuilderFn)(void* logger, int32_t version);
typedef void* (*CreateRuntimeFn)(void* logger, int32_t version);
typedef void* (*CreateParserFn)(void* network, void* logger, int version);
typedef bool (*InitPluginsFn)(void* logger, const char* ns);

// Forwards TensorRT's log to the caller and keeps the errors for the result. TensorRT requires the
// logger to be thread-safe, so its state is behind a mutex.
//
// Only error-severity messages classify a failure: "Tactic Device request: …MB Available: …MB" and
// "Skipping tactic … insufficient memory" are warnings in successful builds. An error about memory
// marks an out-of-memory failure; "Could not find any implementation for node" (Error Code 10)
// marks a failure that needs a *larger* workspace.
class Logger : public nvinfer1::ILogger {
public:
    void set_sink(kiln_trt_log_fn fn, void* u) {
        std::lock_guard<std::mutex> lock(mutex_);
        callback_ = fn;
        user_ = u;
    }
    void log(Severity severity, nvinfer1::AsciiChar const* msg) noexcept override {
        if (msg == nullptr) return;
        try {
            std::lock_guard<std::mutex> lock(mutex_);
            if (callback_) callback_(user_, static_cast<int32_t>(severity), msg);
            if (severity > Severity::kERROR) return;
            if (strstr(msg, "out of memory") || strstr(msg, "OutOfMemory") || strstr(msg, "could not be allocated") ||
                strstr(msg, "Requested amount of GPU memory") || strstr(msg, "std::bad_alloc") || strstr(msg, "Failed to allocate")) {
                memory_failure_ = true;
            }
            if (strstr(msg, "Could not find any implementation")) no_implementation_ = true;
            if (errors_.size() < 16384) {
                if (!errors_.empty()) errors_ += "\n";
                errors_ += msg;
            }
        } catch (...) {
            // Out of memory while logging: the message is lost, TensorRT carries on.
        }
    }
    std::string errors() {
        std::lock_guard<std::mutex> lock(mutex_);
        return errors_;
    }
    void clear_errors() {
        std::lock_guard<std::mutex> lock(mutex_);
        errors_.clear();
    }
    // The status for a failed build, from what was logged.
    kiln_trt_status failure_status() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (memory_failure_) return KILN_TRT_OUT_OF_MEMORY;
        if (no_implementation_) return KILN_TRT_NO_IMPLEMENTATION;
        return KILN_TRT_BUILD_FAILED;
    }

private:
    std::mutex mutex_;
    kiln_trt_log_fn callback_ = nullptr;
    void* user_ = nullptr;
    std::string errors_;
    bool memory_failure_ = false;
    bool no_implementation_ = false;
};

// The process-lifetime logger: the plugin library keeps whatever logger initLibNvInferPlugins was
// given (in its global gLogger), so that one is never freed. TensorRT before 8.4 keeps a single
// logger for every builder and runtime, so there every object uses this one too.
Logger& process_logger() {
    static Logger* logger = new Logger();
    return *logger;
}

// The logger to hand TensorRT for an object that would like its own.
Logger* logger_for(Logger* own) {
#if KILN_TRT_AT_LEAST(8, 4)
    return own;
#else
    (void)own;
    return &process_logger();
#endif
}

}  // namespace

struct kiln_trt_library {
    void* nvinfer = nullptr;
    void* parser = nullptr;
    void* plugins = nullptr;
    int32_t version = 0;
    CreateBuilderFn create_builder = nullptr;
    CreateRuntimeFn create_runtime = nullptr;
    CreateParserFn create_parser = nullptr;
    InitPluginsFn init_plugins = nullptr;
    // getInferLibBuildVersion (TensorRT >= 10), or -1.
    int32_t build = -1;
    // cudaRuntimeGetVersion of the CUDA runtime TensorRT loaded (TensorRT 8 links it dynamically), or -1.
    int32_t cudart = -1;
};

namespace {

int32_t version_major(int32_t v) { return v >= 10000 ? v / 10000 : v / 1000; }

nvinfer1::Dims to_dims(const int64_t* d, int32_t n) {
    nvinfer1::Dims dims;
    dims.nbDims = n;
    for (int32_t i = 0; i < n && i < nvinfer1::Dims::MAX_DIMS; i++) dims.d[i] = static_cast<std::decay<decltype(dims.d[0])>::type>(d[i]);
    return dims;
}

std::string dims_text(const nvinfer1::Dims& d) {
    std::string s = "[";
    for (int32_t i = 0; i < d.nbDims; i++) s += (i ? "," : "") + std::to_string(static_cast<long long>(d.d[i]));
    return s + "]";
}

int32_t onnx_type(nvinfer1::DataType t) {
    switch (t) {
    case nvinfer1::DataType::kFLOAT: return 1;
    case nvinfer1::DataType::kHALF: return 10;
    case nvinfer1::DataType::kINT8: return 3;
    case nvinfer1::DataType::kINT32: return 6;
    case nvinfer1::DataType::kBOOL: return 9;
#if KILN_TRT_AT_LEAST(8, 5)
    case nvinfer1::DataType::kUINT8: return 2;
#endif
#if KILN_TRT_AT_LEAST(8, 6)
    case nvinfer1::DataType::kFP8: return 17;
#endif
#if KILN_TRT_AT_LEAST(9, 0)
    case nvinfer1::DataType::kBF16: return 16;
    case nvinfer1::DataType::kINT64: return 7;
#endif
#if KILN_TRT_AT_LEAST(10, 0)
    case nvinfer1::DataType::kINT4: return 22;
#endif
    default: return 0;
    }
}

bool read_file(const char* path, std::vector<char>* out) {
    FILE* f = fopen(path, "rb");
    if (f == nullptr) return false;
    char buffer[65536];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, f)) > 0) out->insert(out->end(), buffer, buffer + n);
    bool ok = ferror(f) == 0;
    fclose(f);
    return ok;
}

// Temporary file, fsync, rename: a crash never leaves a truncated timing cache.
bool write_file_atomically(const char* path, const void* data, size_t size) {
    std::string temp = std::string(path) + ".tmp." + std::to_string(static_cast<long>(getpid()));
    int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return false;
    const char* p = static_cast<const char*>(data);
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w <= 0) { close(fd); unlink(temp.c_str()); return false; }
        p += w;
        left -= static_cast<size_t>(w);
    }
    bool ok = fsync(fd) == 0;
    close(fd);
    if (!ok || rename(temp.c_str(), path) != 0) { unlink(temp.c_str()); return false; }
    return true;
}

#if NV_TENSORRT_MAJOR < 11
// INT8 calibration from an existing calibration cache only (Kiln never calibrates on device).
// TensorRT 11 has no calibrators: INT8 comes from the model's Q/DQ nodes.
// The calibrator class must be the one that wrote the cache (its first line names it, e.g.
// "TRT-8601-EntropyCalibration2"): TensorRT ignores a cache of another algorithm and asks for
// batches, which Kiln has none of.
template <typename Algorithm>
class CacheCalibrator : public Algorithm {
public:
    explicit CacheCalibrator(std::vector<char> data) : cache(std::move(data)) {}
    std::vector<char> cache;
    int32_t getBatchSize() const noexcept override { return 1; }
    bool getBatch(void* [], char const* [], int32_t) noexcept override { return false; }
    void const* readCalibrationCache(std::size_t& length) noexcept override {
        length = cache.size();
        return cache.empty() ? nullptr : cache.data();
    }
    void writeCalibrationCache(void const*, std::size_t) noexcept override {}
};
#endif

#if KILN_TRT_AT_LEAST(10, 0)
class Progress : public nvinfer1::IProgressMonitor {
public:
    kiln_trt_progress_fn callback = nullptr;
    void* user = nullptr;
    bool cancelled = false;
    void phaseStart(char const* phase, char const* parent, int32_t steps) noexcept override {
        if (callback) callback(user, phase, parent ? parent : "", 0, steps);
    }
    bool stepComplete(char const* phase, int32_t step) noexcept override {
        if (callback && callback(user, phase, "", step + 1, -1) == 0) cancelled = true;
        return !cancelled;
    }
    void phaseFinish(char const* phase) noexcept override {
        if (callback) callback(user, phase, "", -1, -1);
    }
};
#endif

template <typename T>
struct Owned {
    T* p = nullptr;
    explicit Owned(T* q = nullptr) : p(q) {}
    ~Owned() { delete p; }
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    T* operator->() const { return p; }
    explicit operator bool() const { return p != nullptr; }
};

}  // namespace

extern "C" int kiln_trt_compiled_with_headers(void) { return 1; }

extern "C" const char* kiln_trt_stub_reason(void) { return nullptr; }

#define KILN_TRT_TEXT2(x) #x
#define KILN_TRT_TEXT(x) KILN_TRT_TEXT2(x)
extern "C" const char* kiln_trt_bridge_description(void) {
    return "TensorRT " KILN_TRT_TEXT(NV_TENSORRT_MAJOR) "." KILN_TRT_TEXT(NV_TENSORRT_MINOR) "." KILN_TRT_TEXT(NV_TENSORRT_PATCH) " headers";
}

extern "C" int32_t kiln_trt_header_version(void) {
    return NV_TENSORRT_MAJOR * 10000 + NV_TENSORRT_MINOR * 100 + NV_TENSORRT_PATCH;
}

extern "C" kiln_trt_status kiln_trt_library_open(const char* directory, kiln_trt_library** out, char* error, size_t error_size) {
    const std::string major = std::to_string(NV_TENSORRT_MAJOR);
    std::string loaded, reasons;
    void* nvinfer = open_first(directory, {"libnvinfer.so." + major, "libnvinfer.so"}, RTLD_NOW | RTLD_GLOBAL, &loaded, &reasons);
    if (nvinfer == nullptr) {
        set_error(error, error_size, "TensorRT not found: could not load libnvinfer.so.%s (%s); install TensorRT %s (JetPack's libnvinfer%s)",
                  major.c_str(), reasons.c_str(), major.c_str(), NV_TENSORRT_MAJOR >= 10 ? "10" : "8");
        return KILN_TRT_LIBRARY_NOT_FOUND;
    }
    GetVersionFn get_version = reinterpret_cast<GetVersionFn>(dlsym(nvinfer, "getInferLibVersion"));
    CreateBuilderFn create_builder = reinterpret_cast<CreateBuilderFn>(dlsym(nvinfer, "createInferBuilder_INTERNAL"));
    CreateRuntimeFn create_runtime = reinterpret_cast<CreateRuntimeFn>(dlsym(nvinfer, "createInferRuntime_INTERNAL"));
    if (!get_version || !create_builder || !create_runtime) {
        set_error(error, error_size, "%s lacks getInferLibVersion/createInferBuilder_INTERNAL/createInferRuntime_INTERNAL", loaded.c_str());
        return KILN_TRT_LIBRARY_NOT_FOUND;
    }
    const int32_t version = get_version();
    if (version_major(version) != NV_TENSORRT_MAJOR) {
        set_error(error, error_size, "%s is TensorRT %d (getInferLibVersion %d) but Kiln was built against TensorRT %d.%d headers; rebuild Kiln with matching TENSORRT_INCLUDE",
                  loaded.c_str(), version_major(version), version, NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR);
        return KILN_TRT_VERSION_MISMATCH;
    }
    std::string parser_loaded, parser_reasons;
    void* parser = open_first(directory, {"libnvonnxparser.so." + major, "libnvonnxparser.so"}, RTLD_NOW | RTLD_LOCAL, &parser_loaded, &parser_reasons);
    if (parser == nullptr) {
        set_error(error, error_size, "TensorRT's ONNX parser not found: could not load libnvonnxparser.so.%s (%s)", major.c_str(), parser_reasons.c_str());
        return KILN_TRT_LIBRARY_NOT_FOUND;
    }
    CreateParserFn create_parser = reinterpret_cast<CreateParserFn>(dlsym(parser, "createNvOnnxParser_INTERNAL"));
    if (!create_parser) {
        set_error(error, error_size, "%s lacks createNvOnnxParser_INTERNAL", parser_loaded.c_str());
        return KILN_TRT_LIBRARY_NOT_FOUND;
    }
    std::string plugin_loaded, plugin_reasons;
    void* plugins = open_first(directory, {"libnvinfer_plugin.so." + major, "libnvinfer_plugin.so"}, RTLD_NOW | RTLD_LOCAL, &plugin_loaded, &plugin_reasons);
    kiln_trt_library* lib = new kiln_trt_library();
    lib->nvinfer = nvinfer;
    lib->parser = parser;
    lib->plugins = plugins;
    lib->version = version;
    lib->create_builder = create_builder;
    lib->create_runtime = create_runtime;
    lib->create_parser = create_parser;
    lib->init_plugins = plugins ? reinterpret_cast<InitPluginsFn>(dlsym(plugins, "initLibNvInferPlugins")) : nullptr;
    if (lib->init_plugins) {
        // Once per process, with the process-lifetime logger (the plugin library keeps the pointer).
        static std::once_flag plugins_once;
        InitPluginsFn init = lib->init_plugins;
        std::call_once(plugins_once, [init] { init(&process_logger(), ""); });
    }
    if (GetVersionFn build = reinterpret_cast<GetVersionFn>(dlsym(nvinfer, "getInferLibBuildVersion"))) lib->build = build();
    typedef int (*RuntimeVersionFn)(int*);
    if (RuntimeVersionFn runtime = reinterpret_cast<RuntimeVersionFn>(dlsym(nvinfer, "cudaRuntimeGetVersion"))) {
        int v = 0;
        if (runtime(&v) == 0) lib->cudart = v;
    }
    *out = lib;
    return KILN_TRT_OK;
}

extern "C" void kiln_trt_library_close(kiln_trt_library* library) { delete library; }

extern "C" int32_t kiln_trt_library_version(const kiln_trt_library* library) { return library ? library->version : 0; }

extern "C" int32_t kiln_trt_library_build_version(const kiln_trt_library* library) { return library ? library->build : -1; }

extern "C" int32_t kiln_trt_library_cudart_version(const kiln_trt_library* library) { return library ? library->cudart : -1; }

namespace {
kiln_trt_status build(kiln_trt_library* lib, const void* onnx, size_t onnx_size, const kiln_trt_build_config* c,
                      void** plan, size_t* plan_size, char* error, size_t error_size) {
    using namespace nvinfer1;
    if (lib == nullptr || onnx == nullptr || c == nullptr || plan == nullptr || plan_size == nullptr) {
        set_error(error, error_size, "kiln_trt_build: null argument");
        return KILN_TRT_INVALID_ARGUMENT;
    }
    Logger own_logger;
    Logger& logger = *logger_for(&own_logger);
    logger.set_sink(c->log, c->user);
    struct Unsink {
        Logger& l;
        ~Unsink() { l.set_sink(nullptr, nullptr); }
    } unsink{logger};
    Owned<IBuilder> builder(static_cast<IBuilder*>(lib->create_builder(&logger, NV_TENSORRT_VERSION)));
    if (!builder) {
        set_error(error, error_size, "createInferBuilder failed: %s", logger.errors().c_str());
        return logger.failure_status();
    }
#if NV_TENSORRT_MAJOR >= 11
    const NetworkDefinitionCreationFlags flags = 0;  // explicit batch and strong typing are the only mode
#elif NV_TENSORRT_MAJOR >= 10
    // Strongly typed (the model's own types decide precision): Q/DQ models, as Swift decides.
    const NetworkDefinitionCreationFlags flags =
        c->strongly_typed ? 1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kSTRONGLY_TYPED) : 0U;
#else
    const NetworkDefinitionCreationFlags flags = 1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH);
    if (c->strongly_typed && c->log) c->log(c->user, 1, "kiln: strongly typed networks need TensorRT 10; building weakly typed");
#endif
    Owned<INetworkDefinition> network(builder->createNetworkV2(flags));
    Owned<nvonnxparser::IParser> parser(static_cast<nvonnxparser::IParser*>(lib->create_parser(network.p, &logger, NV_ONNX_PARSER_VERSION)));
    if (!network || !parser) {
        set_error(error, error_size, "could not create the network/ONNX parser: %s", logger.errors().c_str());
        return KILN_TRT_BUILD_FAILED;
    }
    // The model's path lets the parser find external weights (models over 2 GB, *.onnx.data).
    if (!parser->parse(onnx, onnx_size, c->model_path && c->model_path[0] ? c->model_path : nullptr)) {
        std::string text = "the ONNX parser rejected the model:";
        for (int32_t i = 0; i < parser->getNbErrors(); i++) {
            const nvonnxparser::IParserError* e = parser->getError(i);
            text += "\n  node " + std::to_string(e->node());
#if NV_TENSORRT_MAJOR >= 10
            text += std::string(" '") + (e->nodeName() ? e->nodeName() : "") + "' (" + (e->nodeOperator() ? e->nodeOperator() : "") + ")";
#endif
            text += std::string(": ") + (e->desc() ? e->desc() : "") + " [parser error " + std::to_string(static_cast<int>(e->code())) + "]";
        }
        set_error(error, error_size, "%s", text.c_str());
        return KILN_TRT_PARSE_FAILED;
    }
    Owned<IBuilderConfig> config(builder->createBuilderConfig());
#if KILN_TRT_AT_LEAST(8, 4)
    config->setMemoryPoolLimit(MemoryPoolType::kWORKSPACE, static_cast<size_t>(c->workspace_bytes));
#else
    config->setMaxWorkspaceSize(static_cast<size_t>(c->workspace_bytes));
#endif
#if NV_TENSORRT_MAJOR >= 11
    // TensorRT 11 has no precision flags: the network's types are the engine's (Swift warns when a
    // precision was asked of a model whose types do not carry it).
    if ((c->fp16 || c->int8 || c->bf16) && c->log)
        c->log(c->user, 1, "kiln: TensorRT 11 builds strongly typed networks; precision flags are ignored");
#else
    const bool weakly_typed = c->strongly_typed == 0 || NV_TENSORRT_MAJOR < 10;
    if (c->fp16 && weakly_typed) {
        if (!builder->platformHasFastFp16() && c->log) c->log(c->user, 1, "kiln: this GPU has no fast FP16; building FP16 anyway");
        config->setFlag(BuilderFlag::kFP16);
    }
    std::unique_ptr<IInt8Calibrator> calibrator;
    if (c->int8 && weakly_typed) {
        config->setFlag(BuilderFlag::kINT8);
        if (c->calibration_cache_path && c->calibration_cache_path[0]) {
            std::vector<char> cache;
            if (!read_file(c->calibration_cache_path, &cache) || cache.empty()) {
                set_error(error, error_size, "INT8 calibration cache %s could not be read", c->calibration_cache_path);
                return KILN_TRT_INVALID_ARGUMENT;
            }
            const std::string header(cache.begin(), std::find(cache.begin(), cache.end(), '\n'));
            if (header.find("EntropyCalibration2") != std::string::npos) {
                calibrator.reset(new CacheCalibrator<IInt8EntropyCalibrator2>(std::move(cache)));
            } else if (header.find("MinMaxCalibration") != std::string::npos) {
                calibrator.reset(new CacheCalibrator<IInt8MinMaxCalibrator>(std::move(cache)));
            } else if (header.find("EntropyCalibration") != std::string::npos) {
                calibrator.reset(new CacheCalibrator<IInt8EntropyCalibrator>(std::move(cache)));
            } else {
                set_error(error, error_size, "INT8 calibration cache %s starts with \"%.80s\", not a TensorRT EntropyCalibration2, EntropyCalibration or MinMaxCalibration cache; recreate it with one of those calibrators",
                          c->calibration_cache_path, header.c_str());
                return KILN_TRT_INVALID_ARGUMENT;
            }
            config->setInt8Calibrator(calibrator.get());
        }
    }
    if (c->bf16 && weakly_typed) {
#if KILN_TRT_AT_LEAST(9, 0)
        config->setFlag(BuilderFlag::kBF16);
#else
        if (c->log) c->log(c->user, 1, "kiln: BF16 needs TensorRT 9 or later; building without it");
#endif
    }
#endif
    // Optimization profile from the ONNX dynamic axes and the requested min/opt/max.
    bool dynamic = false;
    for (int32_t i = 0; i < c->nb_profiles; i++) {
        bool found = false;
        for (int32_t k = 0; k < network->getNbInputs(); k++) found = found || strcmp(network->getInput(k)->getName(), c->profiles[i].input) == 0;
        if (!found) {
            set_error(error, error_size, "shape profile names input '%s', which the model does not have", c->profiles[i].input);
            return KILN_TRT_INVALID_ARGUMENT;
        }
    }
    IOptimizationProfile* profile = builder->createOptimizationProfile();
    for (int32_t k = 0; k < network->getNbInputs(); k++) {
        ITensor* input = network->getInput(k);
        const Dims dims = input->getDimensions();
        bool has_dynamic = false;
        for (int32_t d = 0; d < dims.nbDims; d++) has_dynamic = has_dynamic || dims.d[d] < 0;
        const kiln_trt_shape_profile* p = nullptr;
        for (int32_t i = 0; i < c->nb_profiles; i++) if (strcmp(c->profiles[i].input, input->getName()) == 0) p = &c->profiles[i];
        if (!has_dynamic) continue;
        if (p == nullptr) {
            set_error(error, error_size, "input '%s' has dynamic dimensions %s; give its min/opt/max shapes (e.g. --shape %s=1x3x640x640:4x3x640x640:8x3x640x640)",
                      input->getName(), dims_text(dims).c_str(), input->getName());
            return KILN_TRT_INVALID_ARGUMENT;
        }
        if (p->nb_dims != dims.nbDims) {
            set_error(error, error_size, "shape profile for '%s' has rank %d; the model's input is %s", input->getName(), p->nb_dims, dims_text(dims).c_str());
            return KILN_TRT_INVALID_ARGUMENT;
        }
        for (int32_t d = 0; d < dims.nbDims; d++) {
            if (dims.d[d] >= 0 && (p->min[d] != dims.d[d] || p->opt[d] != dims.d[d] || p->max[d] != dims.d[d])) {
                set_error(error, error_size, "shape profile for '%s' changes fixed dimension %d of %s", input->getName(), d, dims_text(dims).c_str());
                return KILN_TRT_INVALID_ARGUMENT;
            }
            if (p->min[d] > p->opt[d] || p->opt[d] > p->max[d] || p->min[d] < 1) {
                set_error(error, error_size, "shape profile for '%s' dimension %d needs 1 <= min <= opt <= max", input->getName(), d);
                return KILN_TRT_INVALID_ARGUMENT;
            }
        }
        profile->setDimensions(input->getName(), OptProfileSelector::kMIN, to_dims(p->min, p->nb_dims));
        profile->setDimensions(input->getName(), OptProfileSelector::kOPT, to_dims(p->opt, p->nb_dims));
        profile->setDimensions(input->getName(), OptProfileSelector::kMAX, to_dims(p->max, p->nb_dims));
        dynamic = true;
    }
    if (dynamic && config->addOptimizationProfile(profile) < 0) {
        set_error(error, error_size, "TensorRT rejected the optimization profile: %s", logger.errors().c_str());
        return KILN_TRT_INVALID_ARGUMENT;
    }
    if (c->dla_core >= 0) {
        if (c->dla_core >= builder->getNbDLACores()) {
            set_error(error, error_size, "DLA core %d requested; this device has %d", c->dla_core, builder->getNbDLACores());
            return KILN_TRT_INVALID_ARGUMENT;
        }
        config->setDefaultDeviceType(DeviceType::kDLA);
        config->setDLACore(c->dla_core);
        config->setFlag(BuilderFlag::kGPU_FALLBACK);
    }
    if (c->optimization_level >= 0) {
#if KILN_TRT_AT_LEAST(8, 6)
        config->setBuilderOptimizationLevel(c->optimization_level);
#else
        if (c->log) c->log(c->user, 1, "kiln: builder optimization levels need TensorRT 8.6; using the default");
#endif
    }
    if (c->set_tactic_sources) {
        // Edits of TensorRT's defaults (+X/-X, as trtexec applies --tacticSources), so sources Kiln
        // does not name (JIT convolutions on 8.5+) keep their default.
        TacticSources sources = config->getTacticSources();
        auto edit = [&sources](TacticSource source, int32_t on) {
            const TacticSources bit = 1U << static_cast<uint32_t>(source);
            sources = on ? (sources | bit) : (sources & ~bit);
        };
#if NV_TENSORRT_MAJOR < 10
        edit(TacticSource::kCUBLAS, c->tactic_cublas);
        edit(TacticSource::kCUBLAS_LT, c->tactic_cublas_lt);
        edit(TacticSource::kCUDNN, c->tactic_cudnn);
#endif
#if KILN_TRT_AT_LEAST(8, 4)
        edit(TacticSource::kEDGE_MASK_CONVOLUTIONS, c->tactic_edge_mask);
#endif
        config->setTacticSources(sources);
    }
    // Timing cache: load if present, save after the build.
    std::vector<char> timing_blob;
    if (c->timing_cache_path && c->timing_cache_path[0]) read_file(c->timing_cache_path, &timing_blob);
    Owned<ITimingCache> timing(config->createTimingCache(timing_blob.empty() ? nullptr : timing_blob.data(), timing_blob.size()));
    if (timing) config->setTimingCache(*timing.p, false);
#if KILN_TRT_AT_LEAST(10, 0)
    Progress progress;
    progress.callback = c->progress;
    progress.user = c->user;
    if (c->progress) config->setProgressMonitor(&progress);
#endif
    Owned<IHostMemory> serialized(builder->buildSerializedNetwork(*network.p, *config.p));
#if KILN_TRT_AT_LEAST(10, 0)
    if (progress.cancelled) {
        set_error(error, error_size, "build cancelled");
        return KILN_TRT_CANCELLED;
    }
#endif
    if (!serialized || serialized->size() == 0) {
        const std::string errors = logger.errors();
        set_error(error, error_size, "TensorRT could not build the engine: %s", errors.empty() ? "no error reported" : errors.c_str());
        return logger.failure_status();
    }
    if (c->timing_cache_path && c->timing_cache_path[0]) {
        const ITimingCache* used = config->getTimingCache();
        Owned<IHostMemory> blob(used ? used->serialize() : nullptr);
        if (blob && !write_file_atomically(c->timing_cache_path, blob->data(), blob->size()) && c->log) {
            c->log(c->user, 2, "kiln: could not save the timing cache");
        }
    }
    void* copy = malloc(serialized->size());
    if (copy == nullptr) {
        set_error(error, error_size, "out of host memory copying a %zu-byte plan", serialized->size());
        return KILN_TRT_OUT_OF_MEMORY;
    }
    memcpy(copy, serialized->data(), serialized->size());
    *plan = copy;
    *plan_size = serialized->size();
    return KILN_TRT_OK;
}
}  // namespace

// No C++ exception crosses the C ABI: allocation failures are out-of-memory, anything else a build failure.
extern "C" kiln_trt_status kiln_trt_build(kiln_trt_library* lib, const void* onnx, size_t onnx_size, const kiln_trt_build_config* c,
                                          void** plan, size_t* plan_size, char* error, size_t error_size) {
    try {
        return build(lib, onnx, onnx_size, c, plan, plan_size, error, error_size);
    } catch (const std::bad_alloc&) {
        set_error(error, error_size, "out of host memory while building the engine (std::bad_alloc)");
        return KILN_TRT_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_error(error, error_size, "the TensorRT build threw: %s", e.what());
        return KILN_TRT_BUILD_FAILED;
    } catch (...) {
        set_error(error, error_size, "the TensorRT build threw an unknown exception");
        return KILN_TRT_BUILD_FAILED;
    }
}

#if NV_TENSORRT_MAJOR >= 10
namespace {
// Memory for an output whose shape depends on the input data (NonZero, NMS, …): TensorRT knows its
// size only while enqueueV3 runs, asks for memory here and then reports the shape. Kiln's runner
// allocates the memory (`alloc`, on the engine's context); the allocator only remembers it.
class OutputAllocator final : public nvinfer1::IOutputAllocator {
public:
    OutputAllocator(kiln_trt_output_alloc_fn alloc, void* user) : alloc_(alloc), user_(user) { shape_.nbDims = -1; }
    void* reallocateOutputAsync(char const* name, void* current, uint64_t size, uint64_t alignment, cudaStream_t) noexcept override {
        // Kiln's device and mapped pinned buffers are at least 256-byte aligned.
        if (alignment > 256 || (alignment & (alignment - 1)) != 0) return nullptr;
        if (current != nullptr && current == memory_ && size <= capacity_) return current;
        void* memory = alloc_(user_, name, std::max<uint64_t>(size, 1));
        if (memory != nullptr) {
            memory_ = memory;
            capacity_ = size;
        }
        return memory;  // nullptr makes enqueueV3 fail with TensorRT's error
    }
    void notifyShape(char const*, nvinfer1::Dims const& dims) noexcept override { shape_ = dims; }
    nvinfer1::Dims shape() const { return shape_; }
    void reset() { shape_.nbDims = -1; }
private:
    kiln_trt_output_alloc_fn alloc_;
    void* user_;
    void* memory_ = nullptr;
    uint64_t capacity_ = 0;
    nvinfer1::Dims shape_{};
};
}  // namespace
#endif

struct kiln_trt_engine {
    Logger logger;
    nvinfer1::IRuntime* runtime = nullptr;
    nvinfer1::ICudaEngine* engine = nullptr;
    nvinfer1::IExecutionContext* context = nullptr;
#if NV_TENSORRT_MAJOR < 10
    std::vector<void*> bindings;
#else
    // Outputs with data-dependent shapes; destroyed after the context that calls them.
    std::map<std::string, std::unique_ptr<OutputAllocator>> allocators;
#endif
    ~kiln_trt_engine() {
        delete context;
        delete engine;
        delete runtime;
    }
};

extern "C" kiln_trt_status kiln_trt_engine_load(kiln_trt_library* lib, const void* plan, size_t plan_size, int32_t dla_core,
                                                kiln_trt_log_fn log, void* user, kiln_trt_engine** out, char* error, size_t error_size) {
    using namespace nvinfer1;
    kiln_trt_engine* e = new (std::nothrow) kiln_trt_engine();
    if (e == nullptr) {
        set_error(error, error_size, "out of host memory loading a %zu-byte engine", plan_size);
        return KILN_TRT_OUT_OF_MEMORY;
    }
    e->logger.set_sink(log, user);
    e->runtime = static_cast<IRuntime*>(lib->create_runtime(logger_for(&e->logger), NV_TENSORRT_VERSION));
    // A DLA engine runs on the core set before deserializing (as trtexec and jetson-inference do);
    // the default, -1, would put an engine built for core 1 on core 0.
    if (e->runtime && dla_core >= 0) {
        if (dla_core >= e->runtime->getNbDLACores()) {
            set_error(error, error_size, "the engine was built for DLA core %d; this device has %d DLA cores", dla_core, e->runtime->getNbDLACores());
            delete e;
            return KILN_TRT_INVALID_ARGUMENT;
        }
        e->runtime->setDLACore(dla_core);
    }
    if (e->runtime) e->engine = e->runtime->deserializeCudaEngine(plan, plan_size);
    if (e->engine) e->context = e->engine->createExecutionContext();
    if (!e->context) {
        set_error(error, error_size, "TensorRT could not load the engine (%zu bytes): %s", plan_size,
                  e->logger.errors().empty() ? "no error reported" : e->logger.errors().c_str());
        kiln_trt_status status = e->engine ? KILN_TRT_EXECUTION_FAILED : KILN_TRT_DESERIALIZE_FAILED;
        delete e;
        return status;
    }
#if NV_TENSORRT_MAJOR < 10
    e->bindings.assign(static_cast<size_t>(e->engine->getNbBindings()), nullptr);
#endif
    *out = e;
    return KILN_TRT_OK;
}

extern "C" void kiln_trt_engine_destroy(kiln_trt_engine* engine) { delete engine; }

extern "C" int32_t kiln_trt_engine_io_count(const kiln_trt_engine* e) {
#if NV_TENSORRT_MAJOR >= 10
    return e->engine->getNbIOTensors();
#else
    return e->engine->getNbBindings();
#endif
}

extern "C" kiln_trt_status kiln_trt_engine_io_info(const kiln_trt_engine* e, int32_t index, kiln_trt_io_info* info, char* error, size_t error_size) {
    using namespace nvinfer1;
    if (index < 0 || index >= kiln_trt_engine_io_count(e)) {
        set_error(error, error_size, "IO index %d out of range (engine has %d)", index, kiln_trt_engine_io_count(e));
        return KILN_TRT_INVALID_ARGUMENT;
    }
#if NV_TENSORRT_MAJOR >= 10
    const char* name = e->engine->getIOTensorName(index);
    const bool input = e->engine->getTensorIOMode(name) == TensorIOMode::kINPUT;
    const DataType type = e->engine->getTensorDataType(name);
    const Dims dims = e->engine->getTensorShape(name);
#else
    const char* name = e->engine->getBindingName(index);
    const bool input = e->engine->bindingIsInput(index);
    const DataType type = e->engine->getBindingDataType(index);
    const Dims dims = e->engine->getBindingDimensions(index);
#endif
    snprintf(info->name, sizeof info->name, "%s", name);
    info->is_input = input ? 1 : 0;
    info->element_type = onnx_type(type);
    info->nb_dims = dims.nbDims;
    for (int32_t d = 0; d < dims.nbDims && d < KILN_TRT_MAX_DIMS; d++) info->dims[d] = dims.d[d];
    return KILN_TRT_OK;
}

extern "C" kiln_trt_status kiln_trt_engine_set_input_shape(kiln_trt_engine* e, const char* name, const int64_t* dims, int32_t nb_dims,
                                                           char* error, size_t error_size) {
    const nvinfer1::Dims d = to_dims(dims, nb_dims);
#if NV_TENSORRT_MAJOR >= 10
    const bool ok = e->context->setInputShape(name, d);
#else
    const int32_t index = e->engine->getBindingIndex(name);
    const bool ok = index >= 0 && e->context->setBindingDimensions(index, d);
#endif
    if (!ok) {
        set_error(error, error_size, "input '%s' does not accept shape %s: %s", name, dims_text(d).c_str(), e->logger.errors().c_str());
        return KILN_TRT_EXECUTION_FAILED;
    }
    return KILN_TRT_OK;
}

extern "C" kiln_trt_status kiln_trt_engine_tensor_shape(const kiln_trt_engine* e, const char* name, int64_t* dims, int32_t* nb_dims,
                                                        char* error, size_t error_size) {
#if NV_TENSORRT_MAJOR >= 10
    const nvinfer1::Dims d = e->context->getTensorShape(name);
#else
    const int32_t index = e->engine->getBindingIndex(name);
    if (index < 0) {
        set_error(error, error_size, "the engine has no tensor '%s'", name);
        return KILN_TRT_INVALID_ARGUMENT;
    }
    const nvinfer1::Dims d = e->context->getBindingDimensions(index);
#endif
    if (d.nbDims < 0) {
        set_error(error, error_size, "the engine has no tensor '%s' (or its shape is unresolved)", name);
        return KILN_TRT_INVALID_ARGUMENT;
    }
    *nb_dims = d.nbDims;
    for (int32_t i = 0; i < d.nbDims && i < KILN_TRT_MAX_DIMS; i++) dims[i] = d.d[i];
    return KILN_TRT_OK;
}

extern "C" kiln_trt_status kiln_trt_engine_set_tensor_address(kiln_trt_engine* e, const char* name, void* address, char* error, size_t error_size) {
#if NV_TENSORRT_MAJOR >= 10
    const bool ok = e->context->setTensorAddress(name, address);
#else
    const int32_t index = e->engine->getBindingIndex(name);
    const bool ok = index >= 0 && static_cast<size_t>(index) < e->bindings.size();
    if (ok) e->bindings[static_cast<size_t>(index)] = address;
#endif
    if (!ok) {
        set_error(error, error_size, "could not bind tensor '%s': %s", name, e->logger.errors().c_str());
        return KILN_TRT_INVALID_ARGUMENT;
    }
    return KILN_TRT_OK;
}

extern "C" kiln_trt_status kiln_trt_engine_set_output_allocator(kiln_trt_engine* e, const char* name, kiln_trt_output_alloc_fn alloc,
                                                               void* user, char* error, size_t error_size) {
#if NV_TENSORRT_MAJOR >= 10
    if (alloc == nullptr || name == nullptr) {
        set_error(error, error_size, "an output allocator needs a tensor name and an allocation function");
        return KILN_TRT_INVALID_ARGUMENT;
    }
    auto found = e->allocators.find(name);
    if (found != e->allocators.end()) return KILN_TRT_OK;
    std::unique_ptr<OutputAllocator> allocator(new (std::nothrow) OutputAllocator(alloc, user));
    if (!allocator) {
        set_error(error, error_size, "out of host memory for the output allocator of '%s'", name);
        return KILN_TRT_OUT_OF_MEMORY;
    }
    if (!e->context->setOutputAllocator(name, allocator.get())) {
        set_error(error, error_size, "output '%s' cannot take an output allocator: %s", name, e->logger.errors().c_str());
        return KILN_TRT_INVALID_ARGUMENT;
    }
    try {
        e->allocators.emplace(name, std::move(allocator));
    } catch (...) {
        e->context->setOutputAllocator(name, nullptr);
        set_error(error, error_size, "out of host memory for the output allocator of '%s'", name);
        return KILN_TRT_OUT_OF_MEMORY;
    }
    return KILN_TRT_OK;
#else
    (void)e; (void)alloc; (void)user;
    set_error(error, error_size,
              "output '%s' has a data-dependent shape; Kiln runs such outputs with TensorRT >= 10 only (its IOutputAllocator with "
              "enqueueV3); TensorRT %d.%d runs engines through bindings and enqueueV2, which need every output's size before the run",
              name ? name : "?", NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR);
    return KILN_TRT_UNAVAILABLE;
#endif
}

extern "C" kiln_trt_status kiln_trt_engine_output_shape(const kiln_trt_engine* e, const char* name, int64_t* dims, int32_t* nb_dims,
                                                       char* error, size_t error_size) {
#if NV_TENSORRT_MAJOR >= 10
    auto found = name ? e->allocators.find(name) : e->allocators.end();
    const nvinfer1::Dims d = found == e->allocators.end() ? nvinfer1::Dims{} : found->second->shape();
    if (found == e->allocators.end() || d.nbDims < 0 || d.nbDims > KILN_TRT_MAX_DIMS) {
        set_error(error, error_size, "TensorRT reported no shape for output '%s' in the last run", name ? name : "?");
        return KILN_TRT_EXECUTION_FAILED;
    }
    *nb_dims = d.nbDims;
    for (int32_t i = 0; i < d.nbDims; i++) dims[i] = d.d[i];
    return KILN_TRT_OK;
#else
    (void)e; (void)dims; (void)nb_dims;
    set_error(error, error_size, "output '%s': data-dependent shapes need TensorRT >= 10 in Kiln", name ? name : "?");
    return KILN_TRT_UNAVAILABLE;
#endif
}

extern "C" kiln_trt_status kiln_trt_engine_enqueue(kiln_trt_engine* e, void* stream, char* error, size_t error_size) {
    e->logger.clear_errors();
#if NV_TENSORRT_MAJOR >= 10
    for (auto& entry : e->allocators) entry.second->reset();
    const bool ok = e->context->enqueueV3(static_cast<cudaStream_t>(stream));
#else
    const bool ok = e->context->enqueueV2(e->bindings.data(), static_cast<cudaStream_t>(stream), nullptr);
#endif
    if (!ok) {
        const std::string errors = e->logger.errors();
        set_error(error, error_size, "TensorRT enqueue failed: %s", errors.empty() ? "no error reported" : errors.c_str());
        return KILN_TRT_EXECUTION_FAILED;
    }
    return KILN_TRT_OK;
}

#else
// ============================================================================================
// Stub: compiled where no TensorRT headers were found. Every call explains why it cannot work.
// ============================================================================================
namespace {
const char kUnavailable[] = "TensorRT bridge " KILN_TRT_STUB_REASON "; builds fall back to trtexec when it is installed";
kiln_trt_status unavailable(char* error, size_t error_size) {
    set_error(error, error_size, "%s", kUnavailable);
    return KILN_TRT_UNAVAILABLE;
}
}  // namespace

struct kiln_trt_library {};
struct kiln_trt_engine {};

extern "C" int kiln_trt_compiled_with_headers(void) { return 0; }
extern "C" const char* kiln_trt_stub_reason(void) { return KILN_TRT_STUB_REASON; }
extern "C" const char* kiln_trt_bridge_description(void) { return "stub (" KILN_TRT_STUB_REASON ")"; }
extern "C" int32_t kiln_trt_header_version(void) { return 0; }
extern "C" kiln_trt_status kiln_trt_library_open(const char*, kiln_trt_library** out, char* error, size_t error_size) {
    if (out) *out = nullptr;
    return unavailable(error, error_size);
}
extern "C" void kiln_trt_library_close(kiln_trt_library*) {}
extern "C" int32_t kiln_trt_library_version(const kiln_trt_library*) { return 0; }
extern "C" int32_t kiln_trt_library_build_version(const kiln_trt_library*) { return -1; }
extern "C" int32_t kiln_trt_library_cudart_version(const kiln_trt_library*) { return -1; }
extern "C" kiln_trt_status kiln_trt_build(kiln_trt_library*, const void*, size_t, const kiln_trt_build_config*, void** plan, size_t* plan_size,
                                          char* error, size_t error_size) {
    if (plan) *plan = nullptr;
    if (plan_size) *plan_size = 0;
    return unavailable(error, error_size);
}
extern "C" kiln_trt_status kiln_trt_engine_load(kiln_trt_library*, const void*, size_t, int32_t, kiln_trt_log_fn, void*, kiln_trt_engine** out,
                                                char* error, size_t error_size) {
    if (out) *out = nullptr;
    return unavailable(error, error_size);
}
extern "C" void kiln_trt_engine_destroy(kiln_trt_engine*) {}
extern "C" int32_t kiln_trt_engine_io_count(const kiln_trt_engine*) { return 0; }
extern "C" kiln_trt_status kiln_trt_engine_io_info(const kiln_trt_engine*, int32_t, kiln_trt_io_info*, char* error, size_t error_size) {
    return unavailable(error, error_size);
}
extern "C" kiln_trt_status kiln_trt_engine_set_input_shape(kiln_trt_engine*, const char*, const int64_t*, int32_t, char* error, size_t error_size) {
    return unavailable(error, error_size);
}
extern "C" kiln_trt_status kiln_trt_engine_tensor_shape(const kiln_trt_engine*, const char*, int64_t*, int32_t*, char* error, size_t error_size) {
    return unavailable(error, error_size);
}
extern "C" kiln_trt_status kiln_trt_engine_set_tensor_address(kiln_trt_engine*, const char*, void*, char* error, size_t error_size) {
    return unavailable(error, error_size);
}
extern "C" kiln_trt_status kiln_trt_engine_set_output_allocator(kiln_trt_engine*, const char*, kiln_trt_output_alloc_fn, void*,
                                                               char* error, size_t error_size) {
    return unavailable(error, error_size);
}
extern "C" kiln_trt_status kiln_trt_engine_output_shape(const kiln_trt_engine*, const char*, int64_t*, int32_t*, char* error, size_t error_size) {
    return unavailable(error, error_size);
}
extern "C" kiln_trt_status kiln_trt_engine_enqueue(kiln_trt_engine*, void*, char* error, size_t error_size) {
    return unavailable(error, error_size);
}
#endif
