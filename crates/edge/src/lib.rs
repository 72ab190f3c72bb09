//! The edge: routes `Host` -> bot -> app -> active deployment -> blob, gates requests behind
//! verified Telegram `initData` sessions, and applies HTTP caching semantics. Built in the
//! edge issue; this crate holds nothing yet.
