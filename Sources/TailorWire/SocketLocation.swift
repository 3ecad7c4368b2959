import Foundation

/// Where tailord's Unix socket is: one rule for the daemon that creates it and the clients
/// that look for it, so the two cannot drift apart.
public enum SocketLocation {
    /// The socket's file name inside its directory.
    public static let fileName = "tailord.sock"

    /// The system daemon's socket (FHS: under /run).
    public static let system = "/run/tailor/" + fileName

    /// The user daemon's socket under `$XDG_RUNTIME_DIR`; nil when that is unset or relative.
    public static func user(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") else { return nil }
        return runtime + "/tailor/" + fileName
    }

    /// Where a user daemon puts its socket when there is no `$XDG_RUNTIME_DIR` (no systemd
    /// session: a container, a plain `su`): a directory of the user's own under /tmp, as tmux
    /// does. The daemon creates it 0700 and refuses one that another user owns or others can
    /// enter, so squatting the name gets nobody a connection.
    public static func fallbackDirectory(uid: uid_t = getuid()) -> String { "/tmp/tailor-\(uid)" }

    /// Whether `path` is a real directory (not a link) that `uid` owns and nobody else may
    /// enter: what the daemon requires before listening in the fallback directory, and what a
    /// client requires before trusting a socket there (another user who made the directory
    /// first must get neither the socket nor the prompts sent to it).
    public static func isPrivateDirectory(_ path: String, uid: uid_t) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR && st.st_uid == uid && st.st_mode & 0o077 == 0
    }

    /// The socket a client connects to: `flag` (--socket), then `$TAILOR_SOCKET`, then the user
    /// daemon's socket when `$XDG_RUNTIME_DIR` is set; without it, the fallback directory's
    /// socket when `exists` says it is there (by default: the directory is this user's alone and
    /// holds the socket); else the system daemon's.
    public static func client(
        flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        exists: (String) -> Bool = { path in
            isPrivateDirectory((path as NSString).deletingLastPathComponent, uid: getuid())
                && FileManager.default.fileExists(atPath: path)
        }
    ) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let env = environment["TAILOR_SOCKET"], !env.isEmpty { return env }
        if let user = user(environment: environment) { return user }
        let fallback = fallbackDirectory() + "/" + fileName
        return exists(fallback) ? fallback : system
    }
}
