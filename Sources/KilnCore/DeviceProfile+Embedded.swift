// Generated from Profiles/*.json; do not edit. Regenerate with:
//   KILN_REGENERATE_PROFILES=1 swift test --filter ProfileEmbeddingTests
// (ProfileEmbeddingTests fails whenever this file and Profiles/ differ.)

extension DeviceProfile {
    /// The repository's `Profiles/*.json`, byte for byte, keyed by profile name.
    ///
    /// Compiled in so `kiln` works without the repository; a test keeps it equal to the files.
    public static let embeddedJSON: [String: String] = [
        "agx-orin-32gb": #"""
        {
          "name": "agx-orin-32gb",
          "displayName": "Jetson AGX Orin 32 GB",
          "match": {
            "deviceTreeModel": [
              "AGX Orin"
            ],
            "computeCapability": [
              "8.7"
            ],
            "memoryTotalMiB": {
              "min": 24576,
              "max": 49152
            },
            "gpu": "integrated"
          },
          "sm": "8.7",
          "memoryMiB": 32768,
          "unifiedMemory": true,
          "dlaCores": 2,
          "workspaceCapMiB": 8192,
          "workspaceFloorMiB": 256,
          "memoryReserveMiB": 3072,
          "defaultPrecision": "fp16",
          "optimizationLevel": 3,
          "tacticSources": {
            "cublas": true,
            "cublasLt": true,
            "cudnn": true,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": true,
          "engineCacheBudgetMiB": 32768,
          "notes": "Ampere GA10B, 1792 cores, 2 NVDLA v2."
        }

        """#,
        "agx-orin-64gb": #"""
        {
          "name": "agx-orin-64gb",
          "displayName": "Jetson AGX Orin 64 GB",
          "match": {
            "deviceTreeModel": [
              "AGX Orin"
            ],
            "computeCapability": [
              "8.7"
            ],
            "memoryTotalMiB": {
              "min": 49152
            },
            "gpu": "integrated"
          },
          "sm": "8.7",
          "memoryMiB": 65536,
          "unifiedMemory": true,
          "dlaCores": 2,
          "workspaceCapMiB": 16384,
          "workspaceFloorMiB": 256,
          "memoryReserveMiB": 4096,
          "defaultPrecision": "fp16",
          "optimizationLevel": 3,
          "tacticSources": {
            "cublas": true,
            "cublasLt": true,
            "cudnn": true,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": true,
          "engineCacheBudgetMiB": 65536,
          "notes": "Ampere GA10B, 2048 cores, 2 NVDLA v2 (the developer kit and the 64 GB / Industrial modules)."
        }

        """#,
        "agx-xavier": #"""
        {
          "name": "agx-xavier",
          "displayName": "Jetson AGX Xavier",
          "match": {
            "deviceTreeModel": [
              "AGX Xavier",
              "Jetson-AGX"
            ],
            "computeCapability": [
              "7.2"
            ],
            "gpu": "integrated"
          },
          "sm": "7.2",
          "memoryMiB": 32768,
          "unifiedMemory": true,
          "dlaCores": 2,
          "workspaceCapMiB": 4096,
          "workspaceFloorMiB": 256,
          "memoryReserveMiB": 2048,
          "defaultPrecision": "fp16",
          "optimizationLevel": 3,
          "tacticSources": {
            "cublas": true,
            "cublasLt": true,
            "cudnn": true,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": true,
          "engineCacheBudgetMiB": 16384,
          "notes": "Volta GV11B, 512 cores, 2 NVDLA v1; JetPack 4 names the board \"Jetson-AGX\"."
        }

        """#,
        "cpu-only": #"""
        {
          "name": "cpu-only",
          "displayName": "CPU only",
          "match": {
            "fallback": true
          },
          "unifiedMemory": false,
          "dlaCores": 0,
          "workspaceCapMiB": 1024,
          "workspaceFloorMiB": 32,
          "memoryReserveMiB": 512,
          "defaultPrecision": "fp32",
          "optimizationLevel": 3,
          "buildWhileServing": true,
          "engineCacheBudgetMiB": 2048,
          "notes": "No usable GPU: the pure-Swift reference backend builds and runs engines in fp32."
        }

        """#,
        "generic-discrete": #"""
        {
          "name": "generic-discrete",
          "displayName": "Discrete NVIDIA GPU",
          "match": {
            "gpu": "discrete"
          },
          "unifiedMemory": false,
          "dlaCores": 0,
          "workspaceCapMiB": 8192,
          "workspaceFloorMiB": 256,
          "memoryReserveMiB": 1024,
          "defaultPrecision": "fp16",
          "optimizationLevel": 3,
          "tacticSources": {
            "cublas": true,
            "cublasLt": true,
            "cudnn": true,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": true,
          "engineCacheBudgetMiB": 32768,
          "notes": "Any discrete GPU reported by the CUDA device query; the SM comes from the query. The workspace is bounded by the GPU's memory, not the host's."
        }

        """#,
        "jetson-nano-4gb": #"""
        {
          "name": "jetson-nano-4gb",
          "displayName": "Jetson Nano 4 GB",
          "match": {
            "deviceTreeModel": [
              "Jetson Nano"
            ],
            "computeCapability": [
              "5.3"
            ],
            "gpu": "integrated"
          },
          "sm": "5.3",
          "memoryMiB": 4096,
          "unifiedMemory": true,
          "dlaCores": 0,
          "workspaceCapMiB": 512,
          "workspaceFloorMiB": 64,
          "memoryReserveMiB": 1024,
          "defaultPrecision": "fp16",
          "optimizationLevel": 2,
          "tacticSources": {
            "cublas": false,
            "cublasLt": false,
            "cudnn": false,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": false,
          "engineCacheBudgetMiB": 2048,
          "notes": "Maxwell GM20B, 128 cores, JetPack 4 (TensorRT 8.2). Shares 4 GB LPDDR4 with the OS and camera stack: cuBLAS/cuDNN tactics off so builds are not OOM-killed; never build while serving."
        }

        """#,
        "jetson-tx2": #"""
        {
          "name": "jetson-tx2",
          "displayName": "Jetson TX2",
          "match": {
            "deviceTreeModel": [
              "Jetson TX2",
              "quill"
            ],
            "computeCapability": [
              "6.2"
            ],
            "gpu": "integrated"
          },
          "sm": "6.2",
          "memoryMiB": 8192,
          "unifiedMemory": true,
          "dlaCores": 0,
          "workspaceCapMiB": 1536,
          "workspaceFloorMiB": 64,
          "memoryReserveMiB": 1536,
          "defaultPrecision": "fp16",
          "optimizationLevel": 3,
          "tacticSources": {
            "cublas": true,
            "cublasLt": false,
            "cudnn": true,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": false,
          "engineCacheBudgetMiB": 4096,
          "notes": "Pascal GP10B, 256 cores, JetPack 4 (TensorRT 8.2). cuBLASLt tactics off (not useful on Pascal). TX2 NX/4GB variants match here too; the workspace follows MemAvailable."
        }

        """#,
        "orin-nano-4gb": #"""
        {
          "name": "orin-nano-4gb",
          "displayName": "Jetson Orin Nano 4 GB",
          "match": {
            "deviceTreeModel": [
              "Orin Nano"
            ],
            "computeCapability": [
              "8.7"
            ],
            "memoryTotalMiB": {
              "min": 0,
              "max": 6144
            },
            "gpu": "integrated"
          },
          "sm": "8.7",
          "memoryMiB": 4096,
          "unifiedMemory": true,
          "dlaCores": 0,
          "workspaceCapMiB": 768,
          "workspaceFloorMiB": 64,
          "memoryReserveMiB": 1024,
          "defaultPrecision": "fp16",
          "optimizationLevel": 2,
          "tacticSources": {
            "cublas": false,
            "cublasLt": false,
            "cudnn": false,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": false,
          "engineCacheBudgetMiB": 2048,
          "notes": "Ampere GA10B, 512 cores, no DLA. 4 GB shared with the OS and camera stack: cuBLAS/cuDNN tactics off, optimization level 2, never build while serving."
        }

        """#,
        "orin-nano-8gb": #"""
        {
          "name": "orin-nano-8gb",
          "displayName": "Jetson Orin Nano 8 GB",
          "match": {
            "deviceTreeModel": [
              "Orin Nano"
            ],
            "computeCapability": [
              "8.7"
            ],
            "memoryTotalMiB": {
              "min": 6144,
              "max": 12288
            },
            "gpu": "integrated"
          },
          "sm": "8.7",
          "memoryMiB": 8192,
          "unifiedMemory": true,
          "dlaCores": 0,
          "workspaceCapMiB": 2048,
          "workspaceFloorMiB": 128,
          "memoryReserveMiB": 1536,
          "defaultPrecision": "fp16",
          "optimizationLevel": 3,
          "tacticSources": {
            "cublas": true,
            "cublasLt": true,
            "cudnn": false,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": false,
          "engineCacheBudgetMiB": 4096,
          "notes": "Ampere GA10B, 1024 cores, no DLA (the developer kit, including Super)."
        }

        """#,
        "orin-nx-16gb": #"""
        {
          "name": "orin-nx-16gb",
          "displayName": "Jetson Orin NX 16 GB",
          "match": {
            "deviceTreeModel": [
              "Orin NX"
            ],
            "computeCapability": [
              "8.7"
            ],
            "memoryTotalMiB": {
              "min": 12288,
              "max": 24576
            },
            "gpu": "integrated"
          },
          "sm": "8.7",
          "memoryMiB": 16384,
          "unifiedMemory": true,
          "dlaCores": 2,
          "workspaceCapMiB": 4096,
          "workspaceFloorMiB": 256,
          "memoryReserveMiB": 2048,
          "defaultPrecision": "fp16",
          "optimizationLevel": 3,
          "tacticSources": {
            "cublas": true,
            "cublasLt": true,
            "cudnn": true,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": true,
          "engineCacheBudgetMiB": 16384,
          "notes": "Ampere GA10B, 1024 cores, 2 NVDLA v2."
        }

        """#,
        "orin-nx-8gb": #"""
        {
          "name": "orin-nx-8gb",
          "displayName": "Jetson Orin NX 8 GB",
          "match": {
            "deviceTreeModel": [
              "Orin NX"
            ],
            "computeCapability": [
              "8.7"
            ],
            "memoryTotalMiB": {
              "min": 6144,
              "max": 12288
            },
            "gpu": "integrated"
          },
          "sm": "8.7",
          "memoryMiB": 8192,
          "unifiedMemory": true,
          "dlaCores": 1,
          "workspaceCapMiB": 2048,
          "workspaceFloorMiB": 128,
          "memoryReserveMiB": 1536,
          "defaultPrecision": "fp16",
          "optimizationLevel": 3,
          "tacticSources": {
            "cublas": true,
            "cublasLt": true,
            "cudnn": false,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": false,
          "engineCacheBudgetMiB": 8192,
          "notes": "Ampere GA10B, 1024 cores, 1 NVDLA v2 on the 8 GB module."
        }

        """#,
        "thor": #"""
        {
          "name": "thor",
          "displayName": "Jetson AGX Thor",
          "match": {
            "deviceTreeModel": [
              "Thor"
            ],
            "computeCapability": [
              "11.0"
            ],
            "gpu": "integrated"
          },
          "sm": "11.0",
          "memoryMiB": 131072,
          "unifiedMemory": true,
          "dlaCores": 0,
          "workspaceCapMiB": 32768,
          "workspaceFloorMiB": 512,
          "memoryReserveMiB": 8192,
          "defaultPrecision": "fp16",
          "optimizationLevel": 3,
          "tacticSources": {
            "cublas": true,
            "cublasLt": true,
            "cudnn": true,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": true,
          "engineCacheBudgetMiB": 131072,
          "notes": "Blackwell GB10B, 2560 cores, JetPack 7 (CUDA 13 reports SM 11.0). No DLA. TensorRT 10 ignores the TensorRT-8 tactic-source policy."
        }

        """#,
        "xavier-nx": #"""
        {
          "name": "xavier-nx",
          "displayName": "Jetson Xavier NX",
          "match": {
            "deviceTreeModel": [
              "Xavier NX"
            ],
            "computeCapability": [
              "7.2"
            ],
            "gpu": "integrated"
          },
          "sm": "7.2",
          "memoryMiB": 8192,
          "unifiedMemory": true,
          "dlaCores": 2,
          "workspaceCapMiB": 2048,
          "workspaceFloorMiB": 128,
          "memoryReserveMiB": 1536,
          "defaultPrecision": "fp16",
          "optimizationLevel": 3,
          "tacticSources": {
            "cublas": true,
            "cublasLt": true,
            "cudnn": false,
            "edgeMaskConvolutions": true
          },
          "buildWhileServing": false,
          "engineCacheBudgetMiB": 8192,
          "notes": "Volta GV11B, 384 cores, 2 NVDLA v1. 8 GB and 16 GB modules; cuDNN tactics off to keep build memory down."
        }

        """#,
    ]
}
