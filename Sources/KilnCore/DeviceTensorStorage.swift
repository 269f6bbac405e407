/// GPU memory that holds one tensor's bytes, kept alive for as long as a `DeviceTensor` refers
/// to it (a pool lease returns its buffer when the last reference goes away).
///
/// Implemented where the GPU is (KilnCUDA); KilnCore only names the contract so that tensors can
/// cross module boundaries without a host copy.
public protocol DeviceTensorStorage: AnyObject, Sendable {
    /// The device address of the first byte.
    var deviceAddress: UInt64 { get }
    /// The bytes available from `deviceAddress`.
    var byteCount: Int { get }
    /// The ordinal of the GPU the memory belongs to.
    var deviceIndex: Int { get }
    /// Copies the first `count` bytes into host memory at `destination`, returning when they are there.
    func copyToHost(_ destination: UnsafeMutableRawPointer, count: Int) throws
}
