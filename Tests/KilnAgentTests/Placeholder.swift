import Testing

@Suite struct KilnAgentPlaceholderTests {
    @Test func moduleLinks() {}
}
