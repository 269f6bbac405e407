import Foundation

/// The largest tensor (or video frame) Kiln will allocate on this device, checked before allocating.
///
/// A model is hostile input: one dimension of 10^12 would otherwise abort the process with "failed
/// to allocate" or wake the OOM killer. The budget is `MemAvailable − the profile's reserve`
/// (never below 64 MiB), and no tensor may have more than 2^31 − 1 elements (TensorRT's own
/// limit), so a model that works on one board fails the same way everywhere.
public struct TensorBudget: Sendable, Equatable, CustomStringConvertible {
    /// The most bytes one tensor may take.
    public var maxTensorBytes: Int
    /// The most elements one tensor may have.
    public var maxElements: Int
    /// The largest width or height of a video frame.
    public var maxFrameSide: Int

    /// The smallest budget ever used, however short memory is.
    public static let floorBytes = 64 << 20
    /// The element limit every backend shares (TensorRT refuses tensors with more).
    public static let elementLimit = Int(Int32.max)
    /// The largest video frame side Kiln accepts (a 16K frame).
    public static let frameSideLimit = 16384

    /// Creates a budget from its figures.
    public init(maxTensorBytes: Int, maxElements: Int = TensorBudget.elementLimit,
                maxFrameSide: Int = TensorBudget.frameSideLimit) {
        self.maxTensorBytes = max(1, maxTensorBytes)
        self.maxElements = max(1, maxElements)
        self.maxFrameSide = max(1, maxFrameSide)
    }

    /// The budget for `profile` with `memAvailableBytes` free (nil: the profile's nominal memory, else 1 GiB).
    public init(profile: DeviceProfile, memAvailableBytes: Int?) {
        self.init(availableBytes: memAvailableBytes ?? profile.memoryMiB.map { $0 << 20 } ?? 1 << 30,
                  reserveBytes: profile.memoryReserveMiB << 20)
    }

    /// The budget from available memory and a reserve kept back for everything else.
    public init(availableBytes: Int, reserveBytes: Int) {
        self.init(maxTensorBytes: max(Self.floorBytes, availableBytes - reserveBytes))
    }

    /// This machine's budget, from `/proc/meminfo` when the process starts (reserve 512 MiB).
    ///
    /// Backends use it when no profile-derived budget is at hand; it is read once, so every
    /// check in one process agrees.
    public static let machine: TensorBudget = {
        let text = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let info = MemInfo(parsing: text)
        return TensorBudget(availableBytes: info.availableBytes ?? info.totalBytes ?? 1 << 30, reserveBytes: 512 << 20)
    }()

    /// `1.9 GiB per tensor, 2147483647 elements`.
    public var description: String {
        "\(Self.bytesText(maxTensorBytes)) per tensor, at most \(maxElements) elements"
    }

    /// Element count of `shape`, or nil when a dimension is negative or the product overflows.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// Checks a tensor of `shape` with `elementSize`-byte elements and returns its element count.
    ///
    /// Zero dimensions are allowed here (an empty tensor costs nothing); callers refuse them where
    /// they make no sense (model inputs, frames).
    @discardableResult
    public func check(_ shape: [Int], elementSize: Int = 4, subject: @autoclosure () -> String,
                      fix: @autoclosure () -> String = "fix the model") throws(ModelLimitError) -> Int {
        if let bad = shape.first(where: { $0 < 0 }) {
            throw ModelLimitError(subject(), "shape \(shape) has a negative dimension (\(bad))", fix: fix())
        }
        guard let n = Self.elementCount(shape), n <= maxElements else {
            let what = Self.elementCount(shape).map(String.init) ?? "more than 2^63"
            throw ModelLimitError(subject(), "shape \(shape) has \(what) elements; the limit is \(maxElements)", fix: fix())
        }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: max(1, elementSize))
        guard !overflow, bytes <= maxTensorBytes else {
            throw ModelLimitError(subject(), "shape \(shape) needs \(Self.bytesText(overflow ? Int.max : bytes)); this device's budget is \(Self.bytesText(maxTensorBytes)) per tensor (MemAvailable less the reserve)", fix: fix())
        }
        return n
    }

    /// `1.5 GiB`, `12 MiB`, `900 B`.
    static func bytesText(_ bytes: Int) -> String { ByteCountText.text(bytes) }
}
