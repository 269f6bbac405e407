import Testing

@Suite struct KilnInferencePlaceholderTests {
    @Test func moduleLinks() {}
}
