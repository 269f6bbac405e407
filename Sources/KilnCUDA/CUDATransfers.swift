import Synchronization

/// Process-wide counts of host↔device copies, so the frame path's copies per frame can be shown
/// (`kiln-bench loop --gpu`) and tested. Every `DeviceBuffer` upload and download is counted;
/// reading mapped pinned memory in place (integrated GPUs) is not a copy and is not counted.
public enum CUDATransfers {
    private static let uploadCount = Atomic<Int>(0)
    private static let uploadBytes = Atomic<Int>(0)
    private static let downloadCount = Atomic<Int>(0)
    private static let downloadBytes = Atomic<Int>(0)

    /// The counters at one moment.
    public struct Snapshot: Sendable, Equatable {
        /// Host-to-device copies.
        public var uploads: Int
        /// Bytes copied host-to-device.
        public var uploadedBytes: Int
        /// Device-to-host copies.
        public var downloads: Int
        /// Bytes copied device-to-host.
        public var downloadedBytes: Int

        /// The copies made between `earlier` and this snapshot.
        public func since(_ earlier: Snapshot) -> Snapshot {
            Snapshot(uploads: uploads - earlier.uploads, uploadedBytes: uploadedBytes - earlier.uploadedBytes,
                     downloads: downloads - earlier.downloads, downloadedBytes: downloadedBytes - earlier.downloadedBytes)
        }
    }

    /// The counters now.
    public static var snapshot: Snapshot {
        Snapshot(uploads: uploadCount.load(ordering: .relaxed), uploadedBytes: uploadBytes.load(ordering: .relaxed),
                 downloads: downloadCount.load(ordering: .relaxed), downloadedBytes: downloadBytes.load(ordering: .relaxed))
    }

    /// Counts one host-to-device copy of `bytes`.
    static func countUpload(_ bytes: Int) {
        uploadCount.add(1, ordering: .relaxed)
        uploadBytes.add(bytes, ordering: .relaxed)
    }

    /// Counts one device-to-host copy of `bytes`.
    static func countDownload(_ bytes: Int) {
        downloadCount.add(1, ordering: .relaxed)
        downloadBytes.add(bytes, ordering: .relaxed)
    }
}
