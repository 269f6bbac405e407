// KilnCore's users see the system layer (Log, errors, AtomicFile, FileDescriptor, …) without
// importing it themselves.
@_exported import KilnSystem
