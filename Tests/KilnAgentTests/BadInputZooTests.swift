import Foundation
import KilnAgent
import KilnTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Hostile models and sources, generated with the onnx package of the test venv: every one must end
/// `kiln run` with exit 1, 2 or 3 and a message naming what is wrong, never a signal, and never by
/// allocating what the model asks for (peak RSS under 1 GB, under a 6 GB address-space limit like a
/// small board's).
@Suite(.serialized) struct BadInputZooTests {
    /// One generated case: the model file, the text its error must name, extra arguments.
    struct Case: Decodable, CustomStringConvertible {
        var name: String
        var model: String
        var expect: String
        var args: [String]
        var description: String { name }
    }

    /// How a child ended.
    struct Outcome {
        var status: Int32?
        var signal: Int32?
        var peakRSSKiB: Int
        var stderr: String
    }

    /// Runs `kiln` with `arguments` under `ulimit -v`, returning its exit, signal and peak RSS (wait4).
    static func runMeasured(_ arguments: [String], in dir: URL, timeout: Double = 120) throws -> Outcome {
        let errPath = dir.appendingPathComponent("stderr-\(UUID().uuidString)").path
        let argv = ["/bin/sh", "-c", "ulimit -v 6000000; exec \"$0\" \"$@\" 2>\"$KILN_ZOO_STDERR\" >/dev/null",
                    TestEnvironment.kilnExecutable] + arguments
        var env = ProcessInfo.processInfo.environment
        env["KILN_ZOO_STDERR"] = errPath
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in cArgs + cEnv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", nil, nil, cArgs, cEnv)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        var status: Int32 = 0
        var usage = rusage()
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let r = wait4(pid, &status, WNOHANG, &usage)
            if r == pid { break }
            if Date() > deadline { kill(pid, SIGKILL) }
            usleep(20_000)
        }
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        let signalled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
        return Outcome(status: signalled ? nil : (status >> 8) & 0xff, signal: signalled ? status & 0x7f : nil,
                       peakRSSKiB: Int(usage.ru_maxrss), stderr: stderr)
    }

    /// Checks one outcome against the zoo's rules.
    static func expectRefused(_ o: Outcome, naming text: String, case name: String) {
        #expect(o.signal == nil, "\(name): killed by signal \(o.signal ?? 0): \(o.stderr.suffix(600))")
        #expect([1, 2, 3].contains(o.status ?? -1), "\(name): exit \(o.status.map(String.init) ?? "-"): \(o.stderr.suffix(600))")
        #expect(o.stderr.contains(text), "\(name): the message does not name \(text): \(o.stderr.suffix(600))")
        #expect(!o.stderr.contains("Fatal error") && !o.stderr.contains("Program crashed"), "\(name): \(o.stderr.suffix(600))")
        #expect(o.peakRSSKiB < 1 << 20, "\(name): peak RSS \(o.peakRSSKiB >> 10) MiB")
    }

    @Test func everyBadModelIsRefusedWithAMessageAndNoCrashOrHugeAllocation() throws {
        guard let python = try TestEnvironment.pythonTool() else { return }
        let dir = try TestEnvironment.temporaryDirectory("kiln-zoo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("make_zoo.py")
        try Self.generator.write(to: script, atomically: true, encoding: .utf8)
        let made = try TestEnvironment.run(python, [script.path, dir.path])
        try #require(made.status == 0, "generating the zoo failed: \(made.stderr)")
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: dir.appendingPathComponent("cases.json")))
        #expect(cases.count >= 40)
        var worst = 0
        for c in cases {
            let o = try Self.runMeasured(["run", c.model, "--backend", "reference", "--frames", "2", "--threads", "1",
                                          "--source", "synthetic:64x64", "--report-interval", "0",
                                          "--cache-dir", dir.appendingPathComponent("cache").path] + c.args, in: dir)
            Self.expectRefused(o, naming: c.expect, case: c.name)
            worst = max(worst, o.peakRSSKiB)
        }
        print("bad-model zoo: \(cases.count) models refused, worst peak RSS \(worst >> 10) MiB")
    }

    @Test func everyBadSourceIsRefusedBeforeAFrameIsAllocated() throws {
        let dir = try TestEnvironment.temporaryDirectory("kiln-zoo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("demo.onnx")
        try Data(DemoModel.bytes()).write(to: model)
        var sources: [(String, String, String)] = []
        for (name, header) in [("huge", "W100000 H100000"), ("enormous", "W99999999 H99999999"), ("zero", "W0 H480"),
                               ("negative", "W-640 H480"), ("tall", "W16 H70000")] {
            let path = dir.appendingPathComponent("\(name).y4m")
            try Data("YUV4MPEG2 \(header) F30:1 C420\nFRAME\nabc".utf8).write(to: path)
            sources.append(("y4m \(name)", path.path, path.path))
        }
        let raw = dir.appendingPathComponent("frames.raw")
        try Data(count: 12).write(to: raw)
        sources += [
            ("pipe huge", "pipe:100000x100000:cat \(raw.path)", "100000x100000"),
            ("gst huge", "gst:20000x20000:videotestsrc", "20000x20000"),
            ("raw huge", "raw:\(raw.path):100000x100000", "raw:"),
            ("pipe header huge", "pipe:printf 'YUV4MPEG2 W100000 H100000 F30:1 C420\\nFRAME\\nabc'", "Y4M header"),
        ]
        for (name, source, expect) in sources {
            let o = try Self.runMeasured(["run", model.path, "--backend", "reference", "--frames", "2", "--threads", "1",
                                          "--source", source, "--report-interval", "0",
                                          "--cache-dir", dir.appendingPathComponent("cache").path], in: dir)
            Self.expectRefused(o, naming: expect, case: name)
        }
    }

    /// The zoo's generator: writes the models and `cases.json` (name, model, text the error must name).
    static let generator = #"""
import json, sys, os
import numpy as np
import onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh

out = sys.argv[1]
cases = []

def save(name, nodes, inputs, outputs, inits=(), expect=None, opset=13, args=None):
    g = h.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid('', opset)])
    m.ir_version = 8
    path = os.path.join(out, name + '.onnx')
    with open(path, 'wb') as f:
        f.write(m.SerializeToString())
    cases.append({"name": name, "model": path, "expect": expect or name, "args": args or []})

def vi(n, shape, t=T.FLOAT):
    return h.make_tensor_value_info(n, t, shape)

X = vi('x', [1, 3, 8, 8])
Y = vi('y', None)
def i64(name, vals):
    return nh.from_array(np.array(vals, dtype=np.int64), name)

# Inputs with impossible or unaffordable sizes.
save('zerodim', [h.make_node('Relu', ['x'], ['y'], name='r')], [vi('x', [1, 3, 0, 224])], [Y], expect='input x')
save('negdim', [h.make_node('Relu', ['x'], ['y'], name='r')], [vi('x', [1, 3, -5, 224])], [Y], expect='input x')
save('hugedim', [h.make_node('Relu', ['x'], ['y'], name='r')], [vi('x', [1, 3, 1000000, 1000000])], [Y], expect='input x')
save('hugebatch', [h.make_node('Relu', ['x'], ['y'], name='r')], [vi('x', [2**40, 3, 224, 224])], [Y], expect='input x')
save('hugedim_2e12', [h.make_node('Relu', ['x'], ['y'], name='r')], [vi('x', [1, 3, 2**45, 2])], [Y], expect='input x')
# Sizes from constants.
save('cos_huge', [h.make_node('ConstantOfShape', ['s'], ['c'], name='cos'), h.make_node('Add', ['x', 'c'], ['y'], name='a')],
     [X], [Y], [i64('s', [100000, 100000, 100])], expect='cos')
save('cos_negative', [h.make_node('ConstantOfShape', ['s'], ['c'], name='cos'), h.make_node('Add', ['x', 'c'], ['y'], name='a')],
     [X], [Y], [i64('s', [4, -3])], expect='cos')
save('cos_overflow', [h.make_node('ConstantOfShape', ['s'], ['c'], name='cos'), h.make_node('Add', ['x', 'c'], ['y'], name='a')],
     [X], [Y], [i64('s', [2**40, 2**40, 2**40])], expect='cos')
# A size computed from the input's shape (folded at build, not visible in the file).
save('cos_dynamic', [h.make_node('Shape', ['x'], ['sh'], name='shape'), h.make_node('Mul', ['sh', 'k'], ['big'], name='mul'),
                     h.make_node('ConstantOfShape', ['big'], ['c'], name='cos_dyn'), h.make_node('Add', ['x', 'c'], ['y'], name='a')],
     [X], [Y], [i64('k', [100000, 100000, 1000, 1000])], expect='cos_dyn')
save('range_huge', [h.make_node('Range', ['s', 'l', 'd'], ['r'], name='rng'), h.make_node('Cast', ['r'], ['rf'], to=T.FLOAT, name='c'),
                    h.make_node('Add', ['x', 'rf'], ['y'], name='a')], [X], [Y], [i64('s', 0), i64('l', 2**62), i64('d', 1)], expect='rng')
save('range_delta0', [h.make_node('Range', ['s', 'l', 'd'], ['r'], name='rng'), h.make_node('Cast', ['r'], ['rf'], to=T.FLOAT, name='c'),
                      h.make_node('Add', ['x', 'rf'], ['y'], name='a')], [X], [Y], [i64('s', 0), i64('l', 10), i64('d', 0)], expect='rng')
save('range_dynamic', [h.make_node('Shape', ['x'], ['sh'], name='shape'), h.make_node('ReduceMean', ['sh'], ['m'], keepdims=0, name='rm'),
                       h.make_node('Mul', ['m', 'k'], ['lim'], name='mul'),
                       h.make_node('Range', ['s', 'lim', 'd'], ['r'], name='rng_dyn'), h.make_node('Cast', ['r'], ['rf'], to=T.FLOAT, name='c'),
                       h.make_node('Add', ['x', 'rf'], ['y'], name='a')], [X], [Y], [i64('s', 0), i64('k', 2**58), i64('d', 1)], expect='rng_dyn')
save('range_float_inf', [h.make_node('Range', ['s', 'l', 'd'], ['r'], name='rngf'), h.make_node('Add', ['x', 'r'], ['y'], name='a')], [X], [Y],
     [nh.from_array(np.array(0, np.float32), 's'), nh.from_array(np.array(np.inf, np.float32), 'l'), nh.from_array(np.array(1, np.float32), 'd')], expect='rngf')
save('expand_huge', [h.make_node('Expand', ['x', 's'], ['y'], name='exp')], [X], [Y], [i64('s', [100000, 100000, 8, 8])], expect='exp')
save('resize_scales_huge', [h.make_node('Resize', ['x', '', 'sc'], ['y'], name='rs')], [X], [Y],
     [nh.from_array(np.array([1, 1, 1e6, 1e6], np.float32), 'sc')], expect='rs')
save('resize_sizes_huge', [h.make_node('Resize', ['x', '', '', 'sz'], ['y'], name='rs')], [X], [Y],
     [i64('sz', [1, 3, 10**7, 10**7])], expect='rs')
save('resize_scale_nan', [h.make_node('Resize', ['x', '', 'sc'], ['y'], name='rs')], [X], [Y],
     [nh.from_array(np.array([1, 1, np.nan, 2], np.float32), 'sc')], expect='rs')
save('resize_scale_negative', [h.make_node('Resize', ['x', '', 'sc'], ['y'], name='rs')], [X], [Y],
     [nh.from_array(np.array([1, 1, -2, 2], np.float32), 'sc')], expect='rs')
save('upsample_huge', [h.make_node('Upsample', ['x', 'sc'], ['y'], name='up')], [X], [Y],
     [nh.from_array(np.array([1, 1, 1e5, 1e5], np.float32), 'sc')], expect='up', opset=9)
save('pad_huge', [h.make_node('Pad', ['x', 'p'], ['y'], name='pad')], [X], [Y], [i64('p', [0, 0, 10**6, 10**6, 0, 0, 10**6, 10**6])], expect='pad')
save('pad_shrink', [h.make_node('Pad', ['x', 'p'], ['y'], name='pad')], [X], [Y], [i64('p', [0, 0, -20, 0, 0, 0, 0, 0])], expect='pad')
save('reshape_bad', [h.make_node('Reshape', ['x', 's'], ['y'], name='rsh')], [X], [Y], [i64('s', [-5, 3, 8, 8])], expect='rsh')
save('reshape_overflow', [h.make_node('Reshape', ['x', 's'], ['y'], name='rsh')], [X], [Y], [i64('s', [2**40, 2**40, 2**40, 0])], expect='rsh')
# Impossible window attributes.
W = lambda shape: nh.from_array(np.ones(shape, np.float32), 'w')
save('conv_zero_kernel', [h.make_node('Conv', ['x', 'w'], ['y'], name='conv', kernel_shape=[0, 0])], [X], [Y], [W([4, 3, 1, 1])], expect='conv')
save('conv_empty_weight', [h.make_node('Conv', ['x', 'w'], ['y'], name='conv')], [X], [Y], [W([4, 3, 0, 0])], expect='conv')
save('conv_kernel_too_big', [h.make_node('Conv', ['x', 'w'], ['y'], name='conv')], [X], [Y], [W([4, 3, 16, 16])], expect='conv')
save('conv_stride0', [h.make_node('Conv', ['x', 'w'], ['y'], name='conv', strides=[0, 1])], [X], [Y], [W([4, 3, 3, 3])], expect='conv')
save('conv_dilation_negative', [h.make_node('Conv', ['x', 'w'], ['y'], name='conv', dilations=[-1, 1])], [X], [Y], [W([4, 3, 3, 3])], expect='conv')
save('conv_pads_negative', [h.make_node('Conv', ['x', 'w'], ['y'], name='conv', pads=[-2, 0, 0, 0])], [X], [Y], [W([4, 3, 3, 3])], expect='conv')
save('conv_pads_huge', [h.make_node('Conv', ['x', 'w'], ['y'], name='conv', pads=[10**7, 10**7, 10**7, 10**7])], [X], [Y], [W([4, 3, 3, 3])], expect='conv')
save('convtranspose_stride_huge', [h.make_node('ConvTranspose', ['x', 'w'], ['y'], name='convt', strides=[10**6, 10**6])], [X], [Y],
     [W([3, 4, 3, 3])], expect='convt')
# A small output (output_shape) over a GEMM column buffer of 128·64·64 rows × 8192 input columns (4.3 G floats).
save('convtranspose_columns_huge', [h.make_node('ConstantOfShape', ['ws'], ['w'], name='wgen'),
                                    h.make_node('ConvTranspose', ['x', 'w'], ['y'], name='convt_cols', output_shape=[1, 1])],
     [vi('x', [1, 3, 1, 8192])], [Y], [i64('ws', [3, 128, 64, 64])], expect='convt_cols')
save('maxpool_zero_kernel', [h.make_node('MaxPool', ['x'], ['y'], name='pool', kernel_shape=[0, 0])], [X], [Y], expect='pool')
save('maxpool_kernel_too_big', [h.make_node('MaxPool', ['x'], ['y'], name='pool', kernel_shape=[32, 32])], [X], [Y], expect='pool')
save('avgpool_stride0', [h.make_node('AveragePool', ['x'], ['y'], name='pool', kernel_shape=[2, 2], strides=[0, 0])], [X], [Y], expect='pool')
# Inconsistent data.
t = onnx.TensorProto(name='w', data_type=T.FLOAT, dims=[4, 3, 3, 3], raw_data=b'\0' * 100)
save('initializer_size_mismatch', [h.make_node('Conv', ['x', 'w'], ['y'], name='conv')], [X], [Y], [t], expect='w')
save('concat_bad_axis', [h.make_node('Concat', ['x', 'x'], ['y'], name='cat', axis=9)], [X], [Y], expect='cat')
save('gather_out_of_range', [h.make_node('Gather', ['x', 'i'], ['y'], name='g', axis=1)], [X], [Y], [i64('i', [7])], expect='g')
save('unsupported_tile', [h.make_node('Tile', ['x', 'r'], ['y'], name='tile')], [X], [Y], [i64('r', [1, 1, 10**6, 10**6])], expect='Tile')
save('two_dimensional_input', [h.make_node('Relu', ['x'], ['y'], name='r')], [vi('x', [8, 8])], [Y], expect='input x')
# Files that are not models at all.
for name, data in [('empty_file', b''), ('garbage_file', os.urandom(4096)), ('truncated_model', open(os.path.join(out, 'conv_stride0.onnx'), 'rb').read()[:60])]:
    path = os.path.join(out, name + '.onnx')
    open(path, 'wb').write(data)
    cases.append({"name": name, "model": path, "expect": name, "args": []})
json.dump(cases, open(os.path.join(out, 'cases.json'), 'w'), indent=1)
print(len(cases))
"""#
}
