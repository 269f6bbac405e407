import KilnCore
import KilnTensorRT
import Testing

@Suite("TensorRT 8's demoted inputs: int64 fed as int32, double as float (review finding 13)")
struct TensorRTFeedConversionTests {
    static let trt8 = TensorRTVersion(major: 8, minor: 6, patch: 1)
    static let trt10 = TensorRTVersion(major: 10, minor: 3, patch: 0)

    static func int64(_ values: [Int64]) -> Tensor {
        Tensor(elementType: .int64, shape: [values.count], bytes: values.withUnsafeBytes { [UInt8]($0) })
    }

    @Test("on TensorRT 8 int64 values within int32's range are narrowed exactly")
    func narrowsInt64() throws {
        let converted = try TensorRTFeedConversion.convert(Self.int64([0, -5, 2_147_483_647, -2_147_483_648]), to: .int32,
                                                           input: "ids", version: Self.trt8)
        #expect(converted.elementType == .int32)
        #expect(converted.shape == [4])
        #expect(converted.values(as: Int32.self) == [0, -5, .max, .min])
    }

    @Test("on TensorRT 8 an int64 value outside int32 is refused, naming the input and the element")
    func refusesOutOfRange() {
        let error = #expect(throws: TensorRTError.self) {
            _ = try TensorRTFeedConversion.convert(Self.int64([1, 3_000_000_000]), to: .int32, input: "ids", version: Self.trt8)
        }
        #expect(error?.message.contains("'ids'") == true)
        #expect(error?.message.contains("element 1 is 3000000000") == true)
    }

    @Test("on TensorRT 8 doubles become floats; a finite double beyond float's range is refused; NaN passes")
    func narrowsDouble() throws {
        let doubles = Tensor(elementType: .float64, shape: [1, 3], bytes: [0.5, -1e30, Double.nan].withUnsafeBytes { [UInt8]($0) })
        let converted = try TensorRTFeedConversion.convert(doubles, to: .float32, input: "x", version: Self.trt8)
        #expect(converted.elementType == .float32 && converted.shape == [1, 3])
        let f = converted.values(as: Float.self)
        #expect(f[0] == 0.5 && f[1] == -1e30 && f[2].isNaN)
        let huge = Tensor(elementType: .float64, shape: [1], bytes: [1e300].withUnsafeBytes { [UInt8]($0) })
        #expect(throws: TensorRTError.self) { _ = try TensorRTFeedConversion.convert(huge, to: .float32, input: "x", version: Self.trt8) }
    }

    @Test("TensorRT 10 keeps int64, so a type difference there is refused; matching types pass unchanged")
    func noDemotionOnTen() throws {
        let error = #expect(throws: TensorRTError.self) {
            _ = try TensorRTFeedConversion.convert(Self.int64([1]), to: .int32, input: "ids", version: Self.trt10)
        }
        #expect(error?.message.contains("only TensorRT 8 demotes") == true)
        let same = Self.int64([7])
        #expect(try TensorRTFeedConversion.convert(same, to: .int64, input: "ids", version: Self.trt10) == same)
        #expect(throws: TensorRTError.self) {
            _ = try TensorRTFeedConversion.convert(Tensor(shape: [1], floats: [1]), to: .int32, input: "x", version: Self.trt8)
        }
    }
}
