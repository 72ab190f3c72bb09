//! What the audit log records: one name per kind of change, written and read back only as
//! `AuditAction` (the deploy notices read their kind from it).

use std::fmt;

use serde::{Serialize, Serializer};

macro_rules! actions {
    ($($variant:ident = $text:literal,)+) => {
        /// A kind of change written to the audit log, stored as its dotted name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction { $($variant),+ }

        impl AuditAction {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for AuditAction {
            type Err = UnknownAction;
            fn from_str(s: &str) -> Result<Self, UnknownAction> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownAction(s.to_owned())),
                }
            }
        }
    };
}

actions! {
    BotRegister = "bot.register",
    BotEnable = "bot.enable",
    BotDisable = "bot.disable",
    BotQuota = "bot.quota",
    BotDelete = "bot.delete",
    AppCreate = "app.create",
    AppUpdate = "app.update",
    AppDelete = "app.delete",
    DeploymentCreate = "deployment.create",
    DeploymentActivate = "deployment.activate",
    DeploymentRollback = "deployment.rollback",
    DeploymentDelete = "deployment.delete",
    DeploymentExpire = "deployment.expire",
    DeploymentPin = "deployment.pin",
    DeploymentUnpin = "deployment.unpin",
    MemberGrant = "member.grant",
    MemberRevoke = "member.revoke",
    TokenCreate = "token.create",
    TokenRevoke = "token.revoke",
    DevLinkCreate = "devlink.create",
    UserErase = "user.erase",
}

/// A stored action name this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action `{0}`")]
pub struct UnknownAction(pub String);

impl TryFrom<String> for AuditAction {
    type Error = UnknownAction;
    fn try_from(s: String) -> Result<Self, UnknownAction> {
        s.parse()
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuditAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_as_itself() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(*a));
            assert!(a.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'.'), "{a}");
        }
        assert_eq!("deployment.launch".parse::<AuditAction>(), Err(UnknownAction("deployment.launch".into())));
    }
}
