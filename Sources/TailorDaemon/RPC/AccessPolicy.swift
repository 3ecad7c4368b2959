import TailorWire

/// Who may connect, and whose data a caller may touch.
///
/// - User mode: the daemon belongs to one user; the socket is 0600 and any other uid is
///   refused at connect, even if the socket's mode was loosened.
/// - System mode: the socket is 0660, group `tailor`; everyone who can connect is served, but
///   each uid sees only its own users, adapters and data, and root (or the daemon's own uid)
///   sees all. Loading and unloading base models is for root and the daemon's uid only: a model
///   is shared by every user, and the daemon may read files the caller cannot.
public struct AccessPolicy: Sendable, Equatable {
    /// The mode the daemon runs in.
    public var mode: DaemonMode
    /// The daemon's own effective uid.
    public var daemonUID: UInt32

    /// A policy for `mode`, run as `daemonUID`.
    public init(mode: DaemonMode, daemonUID: UInt32) {
        self.mode = mode
        self.daemonUID = daemonUID
    }

    /// Whether a peer may talk to the daemon at all.
    public func admits(_ peer: PeerCredentials) -> Bool {
        switch mode {
        case .user: return peer.uid == daemonUID
        case .system: return true
        }
    }

    /// Whether `peer` may read or change data owned by `owner`.
    public func mayAccess(owner: UInt32, as peer: PeerCredentials) -> Bool {
        peer.uid == owner || isAdministrator(peer)
    }

    /// Whether `peer` may change what every caller shares (the loaded base models).
    public func mayManageModels(_ peer: PeerCredentials) -> Bool {
        mode == .user ? admits(peer) : isAdministrator(peer)
    }

    /// Whether `peer` sees every owner's data (listings are not filtered to its uid).
    public func seesAll(_ peer: PeerCredentials) -> Bool { isAdministrator(peer) }

    private func isAdministrator(_ peer: PeerCredentials) -> Bool {
        peer.uid == 0 || peer.uid == daemonUID
    }
}

extension AccessPolicy {
    /// The owner a request means: its `owner_uid`, or the caller's own uid for 0.
    /// - Throws: PERMISSION_DENIED when the caller may not touch that owner's `what`.
    func owner(_ requested: UInt32, caller: PeerCredentials, of what: String) throws -> UInt32 {
        let owner = requested == 0 ? caller.uid : requested
        guard mayAccess(owner: owner, as: caller) else {
            throw RPCError(.permissionDenied, "uid \(caller.uid) may not use \(what) of uid \(owner)")
        }
        return owner
    }
}
