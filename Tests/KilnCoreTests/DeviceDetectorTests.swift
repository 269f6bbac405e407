import Foundation
import KilnCore
import KilnTestSupport
import Testing

@Suite struct DeviceDetectorTests {
    /// A GPU as the CUDA device query reports it, for detection.
    static func gpu(_ name: String, _ cc: ComputeCapability, memory: Int, integrated: Bool) -> GPUDeviceIdentity {
        GPUDeviceIdentity(name: name, uuid: "GPU-test", computeCapability: cc, totalMemoryBytes: memory, integrated: integrated,
                          multiprocessorCount: 8, driverVersion: 12060, runtimeVersion: "")
    }

    static let catalog = try! ProfileCatalog.embedded()

    static let jetsonFixtures: [(fixture: String, profile: String, jetPack: String)] = [
        ("jetson-nano-4gb", "jetson-nano-4gb", "4.6.1"),
        ("jetson-tx2", "jetson-tx2", "4.6.4"),
        ("xavier-nx", "xavier-nx", "5.1.2"),
        ("agx-xavier", "agx-xavier", "4.6"),
        ("orin-nano-4gb", "orin-nano-4gb", "6.2"),
        ("orin-nano-8gb", "orin-nano-8gb", "5.1.1"),
        ("orin-nx-8gb", "orin-nx-8gb", "6.0"),
        ("orin-nx-16gb", "orin-nx-16gb", "5.1.3"),
        ("agx-orin-32gb", "agx-orin-32gb", "5.0.2"),
        ("agx-orin-64gb", "agx-orin-64gb", "6.2.1"),
        ("thor", "thor", "7.0"),
    ]

    static func detector(_ fixture: String) -> DeviceDetector {
        DeviceDetector(root: Repository.fixtures.appendingPathComponent(fixture).path)
    }

    @Test(arguments: jetsonFixtures)
    func recordedJetsonFilesSelectTheirProfile(fixture: String, profile: String, jetPack: String) throws {
        let detection = try Self.detector(fixture).detect(catalog: Self.catalog)
        #expect(detection.profile.name == profile)
        #expect(detection.reason == .deviceTreeModel)
        #expect(detection.facts.tegraRelease?.jetPack == jetPack)
        #expect(detection.facts.memTotalBytes != nil && detection.facts.memAvailableBytes != nil)
        #expect(detection.facts.deviceTreeModel?.contains("\0") == false)
    }

    @Test(arguments: jetsonFixtures)
    func jetsonWithMatchingGPUQueryStillSelectsItsProfile(fixture: String, profile: String, jetPack: String) throws {
        let p = try Self.catalog.profile(named: profile)
        let facts = Self.detector(fixture).readFacts()
        let gpu = Self.gpu("Orin", try #require(ComputeCapability(p.sm!)), memory: facts.memTotalBytes!, integrated: true)
        #expect(try Self.detector(fixture).detect(gpu: gpu, catalog: Self.catalog).profile.name == profile)
    }

    @Test func fourAndEightGigabyteOrinNanoAreToldApartByMemTotal() throws {
        let four = Self.detector("orin-nano-4gb").readFacts()
        let eight = Self.detector("orin-nano-8gb").readFacts()
        #expect(four.deviceTreeModel!.contains("Orin Nano") && eight.deviceTreeModel!.contains("Orin Nano"))
        #expect(Self.catalog.select(for: four).0.name == "orin-nano-4gb")
        #expect(Self.catalog.select(for: eight).0.name == "orin-nano-8gb")
        var sameModel = four
        sameModel.deviceTreeModel = eight.deviceTreeModel
        #expect(Self.catalog.select(for: sameModel).0.name == "orin-nano-4gb")
    }

    @Test func desktopWithDiscreteGPUSelectsTheGenericDiscreteProfile() throws {
        let gpu = Self.gpu("NVIDIA GeForce RTX 4090", ComputeCapability(major: 8, minor: 9), memory: 24 << 30, integrated: false)
        let detection = try Self.detector("desktop-discrete").detect(gpu: gpu, catalog: Self.catalog)
        #expect(detection.profile.name == "generic-discrete")
        #expect(detection.reason == .gpuKind)
        #expect(detection.facts.deviceTreeModel == nil)
        #expect(detection.facts.tegraRelease == nil)
        // Without the GPU query the same machine is CPU-only.
        #expect(try Self.detector("desktop-discrete").detect(catalog: Self.catalog).profile.name == "cpu-only")
    }

    @Test func plainCPUMachineFallsBackToCPUOnly() throws {
        let detection = try Self.detector("plain-cpu").detect(catalog: Self.catalog)
        #expect(detection.profile.name == "cpu-only")
        #expect(detection.reason == .fallback)
        #expect(detection.facts.memTotalBytes == 24_609_340 * 1024)
        #expect(detection.facts.memAvailableBytes == 21_047_876 * 1024)
    }

    @Test func missingRootReadsNothingAndFallsBack() throws {
        let detection = try DeviceDetector(root: "/nonexistent-kiln-root").detect(catalog: Self.catalog)
        #expect(detection.facts == DeviceFacts())
        #expect(detection.profile.name == "cpu-only")
    }

    @Test func unknownJetsonModelIsMatchedByComputeCapabilityAndMemory() throws {
        let facts = DeviceFacts(
            deviceTreeModel: "Acme Orin Carrier Board", memTotalBytes: 15_655_540 * 1024,
            gpu: Self.gpu("Orin", ComputeCapability(major: 8, minor: 7), memory: 15_655_540 * 1024, integrated: true))
        let (profile, reason) = Self.catalog.select(for: facts)
        #expect(profile.name == "orin-nx-16gb")
        #expect(reason == .computeCapability)
    }

    @Test func profileOverrideWinsOverDetection() throws {
        let detection = try Self.detector("orin-nano-8gb").detect(catalog: Self.catalog, override: "orin-nano-4gb")
        #expect(detection.profile.name == "orin-nano-4gb")
        #expect(detection.reason == .override)
        #expect(throws: ProfileError.self) {
            try Self.detector("orin-nano-8gb").detect(catalog: Self.catalog, override: "nope")
        }
    }

    @Test func realProcOfThisMachineIsReadable() {
        // This machine's own /proc: MemTotal must be there on any Linux.
        let facts = DeviceDetector().readFacts()
        #expect((facts.memTotalBytes ?? 0) > 0)
        #expect((facts.memAvailableBytes ?? 0) > 0)
    }

    @Test func tegraReleaseParsesAndMapsToJetPack() throws {
        let r = try #require(TegraRelease(parsing:
            "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023\n"))
        #expect(r.major == 35 && r.revision == "4.1" && r.board == "t186ref")
        #expect(r.version == "35.4.1" && r.jetPack == "5.1.2")
        #expect(TegraRelease(parsing: "# R36 (release), REVISION: 3.0, GCID: 1, BOARD: generic")?.jetPack == "6.0")
        #expect(TegraRelease(parsing: "# R99 (release), REVISION: 1.0")?.jetPack == nil)
        #expect(TegraRelease(parsing: "garbage") == nil)
    }
}

@Suite struct WorkspacePlanTests {
    @Test func capWinsWhenMemoryIsPlentiful() {
        let plan = WorkspacePlan(capBytes: 768 << 20, availableBytes: 3000 << 20, reserveBytes: 1024 << 20,
                                 floorBytes: 64 << 20)
        #expect(plan.workspaceBytes == 768 << 20)
        #expect(plan.limitedBy == .profileCap)
        #expect(plan.headroomBytes == 1976 << 20)
    }

    @Test func availableMinusReserveWinsWhenMemoryIsShort() {
        let plan = WorkspacePlan(capBytes: 768 << 20, availableBytes: 1500 << 20, reserveBytes: 1024 << 20,
                                 floorBytes: 64 << 20)
        #expect(plan.workspaceBytes == 476 << 20)
        #expect(plan.limitedBy == .availableMemory)
        #expect(plan.description == "min(cap 768 MiB, MemAvailable 1500 MiB − reserve 1024 MiB = 476 MiB) = 476 MiB (available-memory), floor 64 MiB")
    }

    @Test func floorHoldsWhenMemoryIsBelowTheReserve() {
        let plan = WorkspacePlan(capBytes: 768 << 20, availableBytes: 900 << 20, reserveBytes: 1024 << 20,
                                 floorBytes: 64 << 20)
        #expect(plan.workspaceBytes == 64 << 20)
        #expect(plan.limitedBy == .floor)
        #expect(plan.headroomBytes == -(124 << 20))
    }

    @Test func unknownMemoryUsesTheCap() {
        let plan = WorkspacePlan(capBytes: 512 << 20, availableBytes: nil, reserveBytes: 1024 << 20, floorBytes: 64 << 20)
        #expect(plan.workspaceBytes == 512 << 20)
        #expect(plan.availableSource == "unknown")
    }

    @Test func orinNano4GBFixturePlan() throws {
        let detection = try DeviceDetectorTests.detector("orin-nano-4gb").detect(catalog: DeviceDetectorTests.catalog)
        let plan = detection.workspacePlan
        // MemAvailable 2211708 kB = 2159 MiB; minus the 1024 MiB reserve = 1135 MiB; cap 768 MiB.
        #expect(plan.availableBytes == 2_211_708 * 1024)
        #expect(plan.reserveBytes == 1024 << 20)
        #expect(plan.capBytes == 768 << 20)
        #expect(plan.workspaceBytes == 768 << 20)
        #expect(detection.profile.defaultBuildOptions(workspace: plan).workspaceBytes == 768 << 20)
        #expect(detection.profile.defaultBuildOptions().precision == .fp16)
    }

    @Test func jetsonNanoFixturePlanIsLimitedByMemory() throws {
        var facts = DeviceDetectorTests.detector("jetson-nano-4gb").readFacts()
        facts.memAvailableBytes = 1300 << 20
        let profile = try DeviceDetectorTests.catalog.profile(named: "jetson-nano-4gb")
        let plan = WorkspacePlan(profile: profile, facts: facts)
        #expect(plan.workspaceBytes == (1300 - 1024) << 20)
        #expect(plan.limitedBy == .availableMemory)
    }

    @Test func discreteGPUPlansAgainstGPUMemory() throws {
        let profile = try DeviceDetectorTests.catalog.profile(named: "generic-discrete")
        let facts = DeviceFacts(memAvailableBytes: 2 << 30, gpu: DeviceDetectorTests.gpu(
            "RTX", ComputeCapability(major: 8, minor: 6), memory: 6 << 30, integrated: false))
        let plan = WorkspacePlan(profile: profile, facts: facts)
        #expect(plan.availableSource == "GPU memory")
        #expect(plan.workspaceBytes == (6 << 30) - (1024 << 20))
    }
}

@Suite struct GPUIdentityDetectionTests {
    @Test func computeCapabilityIsOneValueWithBothTextForms() {
        let orin = ComputeCapability(major: 8, minor: 7)
        #expect(orin.description == "8.7" && orin.sm == "87")
        #expect(ComputeCapability("8.7") == orin && ComputeCapability("87") == nil && ComputeCapability("8.") == nil)
        #expect(ComputeCapability(major: 7, minor: 5) < ComputeCapability(major: 8, minor: 0))
        #expect(ComputeCapability(major: 8, minor: 9) < ComputeCapability(major: 9, minor: 0))
    }

    @Test func cudaDeviceIdentityFeedsDetection() throws {
        let detection = try DeviceDetectorTests.detector("orin-nano-8gb").detect(gpu: TestDevices.orinNano, catalog: DeviceDetectorTests.catalog)
        #expect(detection.profile.name == "orin-nano-8gb")
    }
}
