import Testing

@Suite struct KilnRegistryPlaceholderTests {
    @Test func moduleLinks() {}
}
