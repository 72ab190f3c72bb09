//! How things read in chat: HTML escaping and service errors as sentences (sizes and times
//! come from `tmahost_service::display`).

use tmahost_service::ServiceError;

/// Escapes text for Telegram's HTML parse mode (`<`, `>`, `&`, quotes).
pub fn escape(s: &str) -> String {
    teloxide::utils::html::escape(s)
}

pub use tmahost_service::display::{bytes, when};

/// A refused or failed operation, as a reply. Internal errors say only that something failed
/// (the details are in the server log).
pub fn error(e: &ServiceError) -> String {
    match e {
        ServiceError::NotFound(what) => format!("No such {what} that you can see."),
        ServiceError::Internal(_) => "Something went wrong on the server; it is in the server log.".into(),
        other => escape(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_is_escaped() {
        assert_eq!(super::escape("<b>&"), "&lt;b&gt;&amp;");
    }
}
