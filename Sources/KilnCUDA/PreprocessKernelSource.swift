/// The CUDA C source of Kiln's preprocessing kernels, compiled at run time by NVRTC.
///
/// One pass per output element block: letterbox/stretch bilinear resize (half-pixel centres,
/// clamped edges; vertical then horizontal interpolation in float32, uncontracted, in the same
/// order as `KilnVideo.CPUPreprocessor`), channel order, `v·a[c] + b[c]` normalisation, HWC uint8 → NCHW float32/float16, for a batch of frames
/// (`blockIdx.z`). The arithmetic is exactly `KilnVideo.PreprocessSpec`'s, term by term, so with `--fmad=false`
/// the GPU reproduces the CPU path's float32 results bit for bit. No headers: NVRTC needs none (half conversion is PTX).
///
/// `PX` output pixels per thread (1 or 2): with 2, rows of even width are stored as `float2`/`half2`.
enum PreprocessKernelSource {
    /// The parameter block's size in bytes; must equal `sizeof(KilnPreprocessParams)` below.
    static let parameterBytes = 120

    /// Kernel names: `kiln_preprocess_<f32|f16>_x<1|2>`.
    static func kernelName(half: Bool, pixelsPerThread: Int) -> String {
        "kiln_preprocess_\(half ? "f16" : "f32")_x\(pixelsPerThread)"
    }

    /// The kernel source; its SHA-256 is part of the cubin cache key.
    static let source = #"""
struct KilnPreprocessParams {
    unsigned long long src;       // 0: uint8 HWC frames
    unsigned long long dst;       // 8: float or half NCHW tensors
    long long srcBatchStride;     // 16: bytes between frames
    long long dstBatchStride;     // 24: elements between outputs
    int srcW, srcH, srcPitch;     // 32, 36, 40
    int dstW, dstH;               // 44, 48
    int contentW, contentH;       // 52, 56
    int padX, padY;               // 60, 64
    int swapRB;                   // 68: 1 when output channel c reads source byte 2-c
    float scaleX, scaleY;         // 72, 76: source pixels per content pixel (w/nw, h/nh)
    float a[3];                   // 80
    float b[3];                   // 92
    float pad[3];                 // 104: padValue*a+b
    int batch;                    // 116
};                                // 120 bytes

struct alignas(8) KilnFloat2 { float x; float y; };

static __device__ __forceinline__ unsigned short kiln_f2h(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// Source coordinate of destination index d along one axis, exactly as KilnVideo.CPUPreprocessor's
// tables: s = (d + 0.5)·scale − 0.5, floored at 0; lo = floor(s) capped at n−1; hi = min(lo+1, n−1);
// weight s − lo, or 0 at the edge. Compiled with --fmad=false so nothing is contracted.
static __device__ __forceinline__ void kiln_axis(int d, float scale, int n, int& lo, int& hi, float& f) {
    float s = ((float)d + 0.5f) * scale - 0.5f;
    if (s < 0.f) s = 0.f;
    lo = (int)floorf(s);
    if (lo > n - 1) lo = n - 1;
    hi = min(lo + 1, n - 1);
    f = hi == lo ? 0.f : s - (float)lo;
}

template <int PX, bool HALF>
static __device__ __forceinline__ void kiln_preprocess(const KilnPreprocessParams& p) {
    const int x0 = (int)(blockIdx.x * blockDim.x + threadIdx.x) * PX;
    const int y = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    const int n = (int)blockIdx.z;
    if (y >= p.dstH || x0 >= p.dstW || n >= p.batch) return;
    const unsigned char* src = (const unsigned char*)p.src + (long long)n * p.srcBatchStride;
    const int cy = y - p.padY;
    const bool rowIn = cy >= 0 && cy < p.contentH;
    int ya = 0, yb = 0;
    float fy = 0.f;
    if (rowIn) kiln_axis(cy, p.scaleY, p.srcH, ya, yb, fy);
    const unsigned char* r0 = src + (long long)ya * p.srcPitch;
    const unsigned char* r1 = src + (long long)yb * p.srcPitch;
    float out[3][PX];
#pragma unroll
    for (int i = 0; i < PX; i++) {
        const int x = x0 + i;
        const int cx = x - p.padX;
        if (rowIn && cx >= 0 && cx < p.contentW && x < p.dstW) {
            int xa, xb;
            float fx;
            kiln_axis(cx, p.scaleX, p.srcW, xa, xb, fx);
            const unsigned char* a0 = r0 + xa * 3;
            const unsigned char* b0 = r0 + xb * 3;
            const unsigned char* a1 = r1 + xa * 3;
            const unsigned char* b1 = r1 + xb * 3;
#pragma unroll
            for (int c = 0; c < 3; c++) {
                const int s = p.swapRB ? 2 - c : c;
                const float v00 = (float)a0[s], v01 = (float)b0[s], v10 = (float)a1[s], v11 = (float)b1[s];
                const float c0 = v00 + fy * (v10 - v00);
                const float c1 = v01 + fy * (v11 - v01);
                const float v = c0 + fx * (c1 - c0);
                out[c][i] = v * p.a[c] + p.b[c];
            }
        } else {
#pragma unroll
            for (int c = 0; c < 3; c++) out[c][i] = p.pad[c];
        }
    }
    const long long plane = (long long)p.dstW * p.dstH;
    const long long base = (long long)n * p.dstBatchStride + (long long)y * p.dstW + x0;
#pragma unroll
    for (int c = 0; c < 3; c++) {
        const long long o = base + c * plane;
        if (HALF) {
            unsigned short* d = (unsigned short*)p.dst + o;
            if (PX == 2 && (p.dstW & 1) == 0) {
                *(unsigned int*)d = (unsigned int)kiln_f2h(out[c][0]) | ((unsigned int)kiln_f2h(out[c][PX - 1]) << 16);
            } else {
#pragma unroll
                for (int i = 0; i < PX; i++) if (x0 + i < p.dstW) d[i] = kiln_f2h(out[c][i]);
            }
        } else {
            float* d = (float*)p.dst + o;
            if (PX == 2 && (p.dstW & 1) == 0) {
                KilnFloat2 v2;
                v2.x = out[c][0];
                v2.y = out[c][PX - 1];
                *(KilnFloat2*)d = v2;
            } else {
#pragma unroll
                for (int i = 0; i < PX; i++) if (x0 + i < p.dstW) d[i] = out[c][i];
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) kiln_preprocess_f32_x1(const KilnPreprocessParams p) { kiln_preprocess<1, false>(p); }
extern "C" __global__ void __launch_bounds__(256) kiln_preprocess_f16_x1(const KilnPreprocessParams p) { kiln_preprocess<1, true>(p); }
extern "C" __global__ void __launch_bounds__(256) kiln_preprocess_f32_x2(const KilnPreprocessParams p) { kiln_preprocess<2, false>(p); }
extern "C" __global__ void __launch_bounds__(256) kiln_preprocess_f16_x2(const KilnPreprocessParams p) { kiln_preprocess<2, true>(p); }
"""#
}
