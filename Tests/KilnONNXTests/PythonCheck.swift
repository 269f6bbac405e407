/// The Python program that checks Kiln-written files with the real `onnx` package.
///
/// Usage: `python3 -c SCRIPT LISTFILE`; LISTFILE has one `kind<TAB>original<TAB>rewritten` line per
/// pair (`kind` is `model` or `tensor`; `original` may be `-` to only run the checker). For models it
/// runs `onnx.checker.check_model` (full_check with shape inference unless the original fails it
/// too) on the rewritten file and compares a canonical dict of both: tensors as numpy arrays, lists
/// that Kiln writes sorted (attributes, opset imports, metadata) sorted, proto2 default-valued
/// fields dropped. Prints `FAIL <path>: <why>` lines and a final `checked N`.
enum PythonCheck {
    static let script = #"""
import sys, onnx, numpy as np
from onnx import numpy_helper
from google.protobuf.json_format import MessageToDict

def tensor_key(t):
    try:
        a = numpy_helper.to_array(t)
    except Exception as e:
        return ('unreadable', str(e))
    if a.dtype == object:
        return (t.name, list(t.dims), t.data_type, [bytes(x) if isinstance(x, (bytes, bytearray)) else str(x).encode() for x in a.ravel()])
    return (t.name, list(t.dims), t.data_type, a.tobytes())

def canon_graph(g, tensors):
    for t in list(g.initializer):
        tensors.append(tensor_key(t))
    del g.initializer[:]
    for n in g.node:
        attrs = sorted(n.attribute, key=lambda a: a.name)
        for a in attrs:
            a.doc_string = ''
            if a.HasField('t'):
                tensors.append(tensor_key(a.t)); a.ClearField('t')
            for t in a.tensors:
                tensors.append(tensor_key(t))
            del a.tensors[:]
            if a.HasField('g'):
                canon_graph(a.g, tensors)
            for sg in a.graphs:
                canon_graph(sg, tensors)
        del n.attribute[:]
        n.attribute.extend(attrs)

def strip(x):
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            v = strip(v)
            if k != 'dimValue' and v in ('', 0, [], {}, '0'):
                continue
            out[k] = v
        return out
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x

def canon_model(m):
    tensors = []
    canon_graph(m.graph, tensors)
    ops = sorted(m.opset_import, key=lambda o: o.domain)
    del m.opset_import[:]; m.opset_import.extend(ops)
    md = sorted(m.metadata_props, key=lambda p: p.key)
    del m.metadata_props[:]; m.metadata_props.extend(md)
    return strip(MessageToDict(m)), tensors

def check(path):
    m = onnx.load(path, load_external_data=False)
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:
        return str(e).splitlines()[0] if str(e) else repr(e)
    return None

checked = 0
for line in open(sys.argv[1]):
    kind, orig, new = line.rstrip('\n').split('\t')
    try:
        if kind == 'model':
            err = check(new)
            if err and (orig == '-' or check(orig) is None):
                print('FAIL %s: checker: %s' % (new, err)); continue
            if orig != '-':
                a, b = canon_model(onnx.load(orig)), canon_model(onnx.load(new))
                if a[0] != b[0]:
                    print('FAIL %s: model structure differs' % orig); continue
                if a[1] != b[1]:
                    print('FAIL %s: tensors differ' % orig); continue
        else:
            a, b = onnx.TensorProto(), onnx.TensorProto()
            a.ParseFromString(open(orig, 'rb').read()); b.ParseFromString(open(new, 'rb').read())
            if tensor_key(a) != tensor_key(b):
                print('FAIL %s: tensor differs' % orig); continue
        checked += 1
    except Exception as e:
        print('FAIL %s: %r' % (orig, e))
print('checked %d' % checked)
"""#
}
