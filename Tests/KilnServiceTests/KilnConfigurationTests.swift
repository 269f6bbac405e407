import Foundation
import KilnService
import KilnTestSupport
import Testing

@Suite struct KilnConfigurationTests {
    @Test func parsesKeysValuesQuotesCommentsAndRepeats() throws {
        let c = try KilnConfiguration(parsing: """
            # a comment
            model = registry.local/fleet/det:stable

            source = v4l2:/dev/video0
            source = "gst:640x480:videotestsrc # not a comment"
            metrics-addr=0.0.0.0:9464
            push-interval = 2.5
            drain = yes
            """, path: "/etc/kiln/kiln.conf")
        #expect(c["model"] == "registry.local/fleet/det:stable")
        #expect(c.values("source") == ["v4l2:/dev/video0", "gst:640x480:videotestsrc # not a comment"])
        #expect(c["metrics-addr"] == "0.0.0.0:9464")
        #expect(try c.double("push-interval") == 2.5)
        #expect(try c.bool("drain") == true)
        #expect(c["absent"] == nil)
        #expect(c.asArguments.prefix(2) == ["--model", "registry.local/fleet/det:stable"])
    }

    @Test func errorsNameTheFileLineAndFix() {
        #expect { try KilnConfiguration(parsing: "a = 1\njust words", path: "k.conf") } throws: {
            "\($0)" == "k.conf:2: \"just words\" is not `key = value`"
        }
        #expect { try KilnConfiguration(parsing: "modle = x", path: "k.conf", knownKeys: ["model", "source"]) } throws: {
            "\($0)".contains("k.conf:1: unknown key \"modle\"; known keys: model, source")
        }
        #expect { try KilnConfiguration(parsing: "\n\npush-interval = soon", path: "k.conf").double("push-interval") } throws: {
            "\($0)".contains("k.conf:3: push-interval = \"soon\": expected a number")
        }
        #expect { try KilnConfiguration.load(path: "/nonexistent/kiln.conf") } throws: {
            ($0 as? ConfigurationError)?.exitCode == .usage && "\($0)".contains("/nonexistent/kiln.conf")
        }
    }

    @Test func sighupIsDeliveredToTheSignalWatcher() async throws {
        let delivered = AsyncStream<Int32>.makeStream()
        let watcher = SignalWatcher([SIGHUP]) { delivered.continuation.yield($0) }
        defer { watcher.cancel() }
        var iterator = delivered.stream.makeAsyncIterator()
        // The dispatch source arms asynchronously: keep signalling until one delivery arrives.
        let sender = Task.detached {
            while !Task.isCancelled {
                kill(getpid(), SIGHUP)
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        let first = await iterator.next()
        sender.cancel()
        await sender.value  // no SIGHUP may arrive after the watcher restores the default action
        #expect(first == SIGHUP)
    }
}
