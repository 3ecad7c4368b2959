import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes files so that a reader, a crash or a second writer never sees half of one: the bytes
/// go to a temporary file in the same directory, which is fsynced, renamed over the target,
/// and the directory fsynced so the rename itself survives a power cut.
public enum AtomicFile {
    /// Why a write failed; the target is unchanged and no temporary file is left.
    public struct WriteError: Error, Equatable, CustomStringConvertible {
        /// The file being written.
        public var path: String
        /// The step that failed.
        public var step: String
        /// errno of the failure.
        public var errno: Int32

        public var description: String { "cannot write \(path): \(step): \(String(cString: strerror(errno)))" }
    }

    /// Replaces `path` with `bytes` atomically, creating missing parent directories.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        } catch {
            throw WriteError(
                path: path, step: "create directory \(dir)",
                errno: (error as NSError).code == 0 ? EIO : Int32((error as NSError).code))
        }
        let temp = (dir.isEmpty ? "." : dir) + "/.\(base).tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw WriteError(path: path, step: "create \(temp)", errno: errno) }
        var ok = false
        defer { if !ok { unlink(temp) } }
        let written: Int = bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; return -1 }
                off += n
            }
            return off
        }
        guard written == bytes.count else {
            let e = errno; close(fd); throw WriteError(path: path, step: "write", errno: e)
        }
        guard fchmod(fd, mode) == 0 else {
            let e = errno; close(fd); throw WriteError(path: path, step: "fchmod", errno: e)
        }
        guard fsync(fd) == 0 else { let e = errno; close(fd); throw WriteError(path: path, step: "fsync", errno: e) }
        guard close(fd) == 0 else { throw WriteError(path: path, step: "close", errno: errno) }
        guard rename(temp, path) == 0 else { throw WriteError(path: path, step: "rename", errno: errno) }
        ok = true
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}
