import KilnVideo
import Testing

@Suite struct SourceSpecTests {
    @Test func parsesEveryKindOfSource() throws {
        #expect(try SourceSpec.parse("synthetic") == .synthetic(width: 1280, height: 720))
        #expect(try SourceSpec.parse("synthetic:1920x1080") == .synthetic(width: 1920, height: 1080))
        #expect(try SourceSpec.parse("raw:/data/a:b.rgb:640x480") == .rawFile(path: "/data/a:b.rgb", geometry: RawGeometry(width: 640, height: 480)))
        #expect(try SourceSpec.parse("raw:/d/cam.yuv:640x480:nv12") == .rawFile(path: "/d/cam.yuv", geometry: RawGeometry(width: 640, height: 480, format: .nv12)))
        #expect(try SourceSpec.parse("y4m:/d/a.y4m") == .y4mFile(path: "/d/a.y4m"))
        #expect(try SourceSpec.parse("/d/a.y4m") == .y4mFile(path: "/d/a.y4m"))
        #expect(try SourceSpec.parse("pipe:1280x720:ffmpeg -i x.mp4 -f rawvideo -pix_fmt rgb24 -")
                == .pipe(command: "ffmpeg -i x.mp4 -f rawvideo -pix_fmt rgb24 -", geometry: RawGeometry(width: 1280, height: 720), live: false))
        #expect(try SourceSpec.parse("pipe:ffmpeg -i rtsp://cam:554/s -f yuv4mpegpipe -")
                == .pipe(command: "ffmpeg -i rtsp://cam:554/s -f yuv4mpegpipe -", geometry: nil, live: false))
        #expect(try SourceSpec.parse("pipe:640x480:bgr24:live:cat /dev/zero")
                == .pipe(command: "cat /dev/zero", geometry: RawGeometry(width: 640, height: 480, format: .bgr24), live: true))
        let gst = try SourceSpec.parse("gst:1280x720:live:nvarguscamerasrc ! nvvidconv")
        #expect(gst == .gstreamer(pipeline: "nvarguscamerasrc ! nvvidconv", geometry: RawGeometry(width: 1280, height: 720), live: true))
        #expect(gst.command == "gst-launch-1.0 -q nvarguscamerasrc ! nvvidconv ! videoconvert ! videoscale ! video/x-raw,format=RGB,width=1280,height=720 ! fdsink fd=1")
        #expect(try SourceSpec.parse("gst:videotestsrc").command == "gst-launch-1.0 -q videotestsrc ! videoconvert ! video/x-raw,format=I420 ! y4menc ! fdsink fd=1")
        #expect(try SourceSpec.parse("v4l2:/dev/video0:1280x720:yuyv") == .v4l2(device: "/dev/video0", width: 1280, height: 720, format: .yuyv))
        #expect(try SourceSpec.parse("/dev/video2") == .v4l2(device: "/dev/video2", width: nil, height: nil, format: nil))
    }

    @Test func textRoundTrips() throws {
        for text in ["synthetic:640x480", "raw:/a.rgb:640x480:rgb24", "y4m:/a.y4m", "pipe:640x480:nv12:live:cmd x",
                     "gst:320x240:videotestsrc", "v4l2:/dev/video0:640x480:nv12"] {
            #expect(try SourceSpec.parse(text).description == text)
        }
    }

    @Test func badSourcesAreUsageErrorsNamingTheInput() {
        for (text, fragment) in [
            ("camera", "unknown source"), ("raw:/a.rgb", "raw:PATH:WxH"), ("raw:/a.rgb:0x480", "raw:PATH:WxH"),
            ("pipe:", "pipe:[WxH"), ("gst:640x480:", "gst:[WxH"), ("gst:videotestsrc ! fdsink fd=1", "without its sink"),
            ("v4l2:/dev/video0:mjpeg", "does not decode MJPEG"), ("v4l2:/dev/video0:h264", "unknown V4L2 option"),
            ("rtsp://cam/stream", "unknown source kind rtsp"),
        ] {
            #expect {
                try SourceSpec.parse(text)
            } throws: { error in
                let e = error as? VideoSourceError
                return e?.exitCode == .usage && e!.description.hasPrefix("--source \(text):") && e!.description.contains(fragment)
            }
        }
    }

    @Test func syntheticNeedsTheAgentsFactory() throws {
        #expect(throws: VideoSourceError.self) { try SourceSpec.synthetic(width: 64, height: 64).makeSource(stream: "s") }
    }
}
