//! What can stop live mode before or while it runs. Every message says what
//! to do about it; nothing is left behind (a TUN device that was created goes
//! away with the process's handle, and its address and routes with it).

/// A live-mode failure.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// No CAP_NET_ADMIN: cannot create a TUN device or route to it.
    #[error(
        "live mode needs root: creating a TUN device and routing to it take CAP_NET_ADMIN, \
         which this process lacks (run it with sudo)"
    )]
    NotRoot,
    /// The kernel's TUN driver is missing or not exposed.
    #[error(
        "no /dev/net/tun: the kernel has no TUN driver loaded (`modprobe tun`), or a container \
         does not expose it (docker: `--device /dev/net/tun --cap-add NET_ADMIN`)"
    )]
    NoTunDevice,
    /// The requested device name is in use.
    #[error("a network interface named `{name}` already exists{}: pick another --tun name", in_netns(.netns))]
    NameTaken {
        /// The name.
        name: String,
        /// The namespace it exists in (`None`: this process's).
        netns: Option<String>,
    },
    /// A route into the simulation would take over part of the host's own.
    #[error(
        "{what} {ours} overlaps the host's route {theirs}{}: traffic for it would go into the \
         simulation; pick another --route, or run in a network namespace (--netns)",
        in_netns(.netns)
    )]
    RouteOverlap {
        /// `--route` or `--addr`.
        what: &'static str,
        /// Our prefix.
        ours: String,
        /// The existing route, as `ip route` prints it.
        theirs: String,
        /// The namespace (`None`: this process's).
        netns: Option<String>,
    },
    /// `--netns` names no namespace.
    #[error("no network namespace `{0}` (create it first: `ip netns add {0}`)")]
    NoNetns(String),
    /// The command line asks for something that cannot work.
    #[error("{0}")]
    Config(String),
    /// `ip` (iproute2) failed or is missing.
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// Its error output.
        message: String,
    },
    /// The device or the poll loop failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

fn in_netns(netns: &Option<String>) -> String {
    netns
        .as_ref()
        .map(|n| format!(" in network namespace `{n}`"))
        .unwrap_or_default()
}

impl LiveError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        LiveError::Io {
            what: what.into(),
            source,
        }
    }
}
