//! The teloxide control bot through which admins and bot owners run the platform. Built in
//! the control-bot issue; this crate holds nothing yet.
