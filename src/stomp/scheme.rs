//! The address schemes STOMP brokers use, for listeners and clients alike: `stomp+ssl://` and
//! `ssl://` mean TLS; `tcp://`, `stomp://` or none mean plain TCP.

/// `HOST:PORT` with the scheme removed, and whether the scheme asks for TLS.
pub fn split_scheme(s: &str) -> (&str, bool) {
    if let Some(a) = s
        .strip_prefix("stomp+ssl://")
        .or_else(|| s.strip_prefix("ssl://"))
    {
        return (a, true);
    }
    let a = s
        .strip_prefix("tcp://")
        .or_else(|| s.strip_prefix("stomp://"))
        .unwrap_or(s);
    (a, false)
}
