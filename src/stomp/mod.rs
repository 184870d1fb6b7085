//! The STOMP wire protocol: frames, versions, escaping and the incremental codec.
//! Nothing here knows about brokers; clients (bench, bridge, collective tools) use it too.

pub mod codec;
pub mod escape;
pub mod frame;
pub mod headers;
pub mod scheme;
pub mod version;

#[cfg(test)]
mod codec_tests;

pub use codec::{Decoder, FrameError, FrameLimits};
pub use frame::{Command, Frame};
pub use headers::Headers;
pub use version::Version;
