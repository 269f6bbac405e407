import CKilnTensorRT

// Prints what Kiln's TensorRT bridge was compiled against. The TensorRT compile checks build this
// tiny program (the bridge alone) with JetPack's header layout, instead of all of `kiln`.
print("TensorRT bridge: \(String(cString: kiln_trt_bridge_description()))")
