import Testing

@Suite struct KilnONNXPlaceholderTests {
    @Test func moduleLinks() {}
}
