import Foundation
import KilnVideo
import Testing

/// No camera exists in CI (and v4l2loopback cannot be loaded in a container): the error paths.
@Suite struct V4L2SourceTests {
    @Test func aMissingDeviceNamesItAndHowToListCameras() {
        #expect { try SourceSpec.parse("v4l2:/dev/video99").makeSource(stream: "cam") } throws: {
            "\($0)" == "v4l2:/dev/video99: cannot open: no such device; list cameras with `v4l2-ctl --list-devices`"
        }
    }

    @Test func aNonCameraDeviceIsRefused() {
        #expect { try SourceSpec.parse("v4l2:/dev/null").makeSource(stream: "cam") } throws: {
            "\($0)".hasPrefix("v4l2:/dev/null: not a V4L2 device (VIDIOC_QUERYCAP")
        }
    }

    @Test func mjpegIsRefusedWithTheDecodingPipeline() {
        #expect { try SourceSpec.parse("v4l2:/dev/video0:1920x1080:mjpeg") } throws: {
            "\($0)".contains("gst:1920x1080:v4l2src device=/dev/video0 ! image/jpeg ! jpegdec")
        }
    }
}
