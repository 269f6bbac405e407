import KilnCore
import KilnTestSupport
import Testing

@Suite("GPU device identity in cache keys")
struct GPUDeviceIdentityTests {
    static let orinNano = TestDevices.orinNano

    @Test("the key holds device name, SM, SM count and driver CUDA version, and not the UUID or memory")
    func keyFields() {
        let id = Self.orinNano
        #expect(id.cacheKeyFields == ["device": "Orin", "sm": "87", "sm_count": "8", "cuda": "12.6"])
        var other = id
        other.uuid = "GPU-2"
        other.totalMemoryBytes = 15 << 30
        other.runtimeVersion = "12.8"
        #expect(other.cacheKeyFields == id.cacheKeyFields, "another board of the same model shares engines")
    }

    @Test("an AGX Orin (same name and SM, more SMs) or a JetPack upgrade gets a different key")
    func keyDistinguishes() {
        var agx = Self.orinNano
        agx.multiprocessorCount = 16
        #expect(agx.cacheKeyFields != Self.orinNano.cacheKeyFields)
        var upgraded = Self.orinNano
        upgraded.driverVersion = 13000
        #expect(upgraded.cacheKeyFields["cuda"] == "13.0")
        #expect(upgraded.cacheKeyFields != Self.orinNano.cacheKeyFields)
    }
}
