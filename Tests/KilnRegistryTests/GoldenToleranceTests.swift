@testable import KilnRegistry
import Testing

/// `RTOL,ATOL`, one parser for the annotation and `kiln publish --tolerance`.
@Suite struct GoldenToleranceTests {
    @Test func exactlyTwoNumbersParse() {
        #expect(KilnAnnotations.GoldenTolerance.parse("0.01,0.001") == .init(rtol: 0.01, atol: 0.001))
        #expect(KilnAnnotations.GoldenTolerance.parse("1e-3,0") == .init(rtol: 0.001, atol: 0))
    }

    @Test func anythingElseIsRefused() {
        for text in ["", "0.01", "0.01,", ",0.01", "0.01,x", "1,x,2", "0.01,0.001,5", "a,b"] {
            #expect(KilnAnnotations.GoldenTolerance.parse(text) == nil, "\(text)")
        }
    }
}
