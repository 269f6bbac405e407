# GPU: NVRTC from NVIDIA's nvidia-cuda-nvrtc wheel compiles Kiln's preprocessing kernels in CI,
# where there is no GPU (compiling needs none); KilnCUDATests finds it in the venv.
need_pip nvidia-cuda-nvrtc==13.5.37
