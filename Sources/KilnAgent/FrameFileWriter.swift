import Foundation
import KilnCore
import KilnVideo
import Synchronization

/// Writes annotated frames as PNG files on its own thread (`--save-frames`): from a queue of two
/// (a newer frame replaces the oldest when the disk cannot keep up; skips are logged), each file
/// written with `AtomicFile` as `STREAM-FRAME.png`, the directory kept to at most `maxFiles`
/// PNGs by removing the oldest.
final class FrameFileWriter: Sendable {
    private struct Job: Sendable {
        var name: String
        var width: Int
        var height: Int
        var pixels: [UInt8]
    }

    private let settings: FrameAnnotator.SaveFrames
    private let queue = BoundedQueue<Job>(capacity: 2)
    private let done = DispatchSemaphore(value: 0)
    private let skipped = Atomic<Int>(0)
    private let finished = Atomic<Bool>(false)

    /// Creates the directory if needed and starts the writer thread.
    init(_ settings: FrameAnnotator.SaveFrames) throws {
        self.settings = settings
        do {
            try FileManager.default.createDirectory(atPath: settings.directory, withIntermediateDirectories: true)
        } catch {
            throw UsageError("--save-frames \(settings.directory): cannot create the directory: \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: settings.directory) else {
            throw UsageError("--save-frames \(settings.directory): the directory is not writable; pick another one")
        }
        let thread = Thread { [self] in
            var files = existingFiles()
            while let job = queue.pop() {
                let path = settings.directory + "/" + job.name
                do {
                    try AtomicFile.write(PNGEncoder.encode(rgb: job.pixels, width: job.width, height: job.height), to: path)
                    files.removeAll { $0 == job.name }
                    files.append(job.name)
                } catch {
                    Log.error("--save-frames: cannot write \(path): \(error)")
                }
                while files.count > settings.maxFiles {
                    let oldest = files.removeFirst()
                    try? FileManager.default.removeItem(atPath: settings.directory + "/" + oldest)
                }
            }
            done.signal()
        }
        thread.name = "kiln-save-frames"
        thread.start()
    }

    /// The PNGs already in the directory, oldest first (they count towards the cap).
    private func existingFiles() -> [String] {
        let dir = settings.directory
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".png") }
        let dated = names.map { name -> (String, Date) in
            let date = (try? FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.modificationDate] as? Date) ?? .distantPast
            return (name, date)
        }
        return dated.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
    }

    /// Queues one frame; never blocks (a full queue drops its oldest frame).
    func enqueue(stream: String, index: Int, width: Int, height: Int, pixels: [UInt8]) {
        let name = stream + "-" + String(format: "%08d", index) + ".png"
        if queue.pushDroppingOldest(Job(name: name, width: width, height: height, pixels: pixels)) != nil {
            let n = skipped.add(1, ordering: .relaxed).newValue
            if n == 1 || n % 100 == 0 { Log.warning("--save-frames: the disk is slower than the frames; \(n) skipped so far") }
        }
    }

    /// Writes what is queued, then stops the thread (waits for it).
    func finish() {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.close()
        done.wait()
    }
}
