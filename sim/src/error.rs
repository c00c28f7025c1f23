//! Errors building a network. Once built, a broken internal invariant is a panic.

use std::net::Ipv4Addr;

/// A topology that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two nodes or taps share a name.
    #[error("name `{0}` is used twice")]
    DuplicateName(String),
    /// Two hosts share an address.
    #[error("address {addr} is already used by `{owner}`")]
    AddrInUse {
        /// The address.
        addr: Ipv4Addr,
        /// The host that has it.
        owner: String,
    },
    /// Ephemeral range reversed or starting at 0.
    #[error("host `{host}`: ephemeral port range {lo}-{hi} is invalid")]
    BadPortRange {
        /// Host name.
        host: String,
        /// Low end.
        lo: u16,
        /// High end.
        hi: u16,
    },
    /// An app placed on a router.
    #[error("`{0}` is a router, not a host")]
    NotAHost(String),
    /// A drop-log tap on a host.
    #[error("`{0}` is a host, not a router: only routers keep drop logs")]
    NotARouter(String),
    /// A link from a node to itself.
    #[error("link from `{0}` to itself")]
    SelfLink(String),
    /// A second link on a host.
    #[error("host `{0}` already has a link (hosts have one interface; put a router between)")]
    HostHasLink(String),
    /// A host with no link.
    #[error("host `{0}` has no link")]
    HostHasNoLink(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
