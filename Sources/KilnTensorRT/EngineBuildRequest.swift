import Foundation
import KilnCore

/// What the parent sends the isolated builder child (`kiln build-engine --request FILE`), as JSON.
public struct EngineBuildRequest: Sendable, Codable, Equatable {
    /// How the child builds.
    public enum Method: String, Sendable, Codable {
        /// The TensorRT bridge (needs headers at build time), else trtexec when installed.
        case auto
        /// The TensorRT bridge only.
        case bridge
        /// trtexec only.
        case trtexec
    }

    /// The ONNX model file.
    public var modelPath: String
    /// Where the child writes the serialized engine (atomically).
    public var enginePath: String
    /// Build options; the child uses the workspace given on its command line instead of these.
    public var options: BuildOptions
    /// Bridge or trtexec.
    public var method: Method
    /// trtexec's path when already located by the parent.
    public var trtexecPath: String?
    /// The GPU's compute capability (8.7 for Orin), when the parent knows it.
    public var computeCapability: ComputeCapability?
    /// The backend that builds (`reference`…); nil for TensorRT, the original protocol.
    public var backend: String?
    /// The model's name for messages (its reference), when it differs from `modelPath`.
    public var modelName: String?

    /// Creates a request.
    public init(modelPath: String, enginePath: String, options: BuildOptions, method: Method = .auto, trtexecPath: String? = nil) {
        self.modelPath = modelPath
        self.enginePath = enginePath
        self.options = options
        self.method = method
        self.trtexecPath = trtexecPath
    }
}

/// One line of the child's protocol on its stdout: `{"event":"progress"|"log"|"result", …}`.
public struct EngineBuildEvent: Sendable, Codable, Equatable {
    /// `progress`, `log` or `result`.
    public var event: String
    /// Progress: the TensorRT phase name.
    public var phase: String?
    /// Progress: steps done in the phase (−1 at phase end).
    public var step: Int?
    /// Progress: steps in the phase (−1 when unknown).
    public var steps: Int?
    /// Log: TensorRT severity (0 internal error … 4 verbose).
    public var severity: Int?
    /// Log or result message.
    public var message: String?
    /// Result: `ok` or a `TensorRTError.Kind` raw value.
    public var status: String?
    /// Result: the workspace the build used.
    public var workspaceBytes: Int?
    /// Result: build seconds.
    public var seconds: Double?
    /// Result: the TensorRT version that built the engine.
    public var tensorrt: String?
    /// Result: `bridge` or `trtexec`.
    public var method: String?

    /// A phase of the build advanced: `step` of `steps` in `phase` (the bridge's progress monitor:
    /// step 0 starts a phase, −1 ends it; `steps` −1 when unknown).
    public static func progress(phase: String, step: Int, steps: Int) -> EngineBuildEvent {
        EngineBuildEvent(event: "progress", phase: phase, step: step, steps: steps)
    }

    /// A log line at TensorRT `severity` (0 internal error … 4 verbose).
    public static func log(severity: Int, _ message: String) -> EngineBuildEvent {
        EngineBuildEvent(event: "log", severity: severity, message: message)
    }

    /// The build's outcome: `status` is `ok`, or a `TensorRTError.Kind` raw value (`failed` from
    /// backends without one) with `message` saying why.
    public static func result(status: String, message: String? = nil, workspaceBytes: Int? = nil, seconds: Double? = nil,
                              tensorrt: String? = nil, method: String? = nil) -> EngineBuildEvent {
        EngineBuildEvent(event: "result", message: message, status: status, workspaceBytes: workspaceBytes, seconds: seconds,
                         tensorrt: tensorrt, method: method)
    }

    /// The event as one JSON line (no newline).
    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? #"{"event":"log","message":"unencodable event"}"#
    }

    /// Parses a protocol line; nil for other output (TensorRT's or trtexec's own lines).
    public static func parse(_ line: String) -> EngineBuildEvent? {
        guard line.hasPrefix(#"{"event""#) || line.hasPrefix("{\"") else { return nil }
        return try? JSONDecoder().decode(EngineBuildEvent.self, from: Data(line.utf8))
    }
}
