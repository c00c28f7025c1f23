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
    /// An app placed on a router or the outside node.
    #[error("`{0}` is not a host: only hosts run applications")]
    NotAHost(String),
    /// A drop-log tap on a host or the outside node.
    #[error("`{0}` is not a router: only routers keep drop logs")]
    NotARouter(String),
    /// A link from a node to itself.
    #[error("link from `{0}` to itself")]
    SelfLink(String),
    /// A second link on a host (or on the outside node).
    #[error(
        "`{0}` already has a link (hosts and the outside have one interface; put a router between)"
    )]
    HostHasLink(String),
    /// A host (or the outside node) with no link.
    #[error("`{0}` has no link")]
    HostHasNoLink(String),
    /// An outside node that stands for no address.
    #[error("outside node `{0}` has no prefix: name the addresses it stands for")]
    NoOutsidePrefix(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
