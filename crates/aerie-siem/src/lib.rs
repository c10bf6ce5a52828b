//! The SIEM feed: every incident change and audit-log entry as an ArcSight CEF event
//! ([`cef`]) in a syslog message ([`syslog`]), sent over TCP, TLS or UDP ([`transport`])
//! by one [`forwarder::Forwarder`] per destination, each from its own durable cursors
//! over the store's feeds. Our own tokio sender: the ecosystem's syslog crates are
//! synchronous and frame TCP by newlines, not RFC 6587 octet counting.

pub mod cef;
pub mod forwarder;
pub mod syslog;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transport;

pub use forwarder::{Forwarder, Role, State, Status};
pub use syslog::Format;
pub use transport::{Destination, Protocol};
