import Testing

@Suite struct KilnVideoPlaceholderTests {
    @Test func moduleLinks() {}
}
