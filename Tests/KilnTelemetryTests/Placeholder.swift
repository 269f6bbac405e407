import Testing

@Suite struct KilnTelemetryPlaceholderTests {
    @Test func moduleLinks() {}
}
