//! How a configuration section is declared: every setting once, with its environment variable,
//! default, check and documentation. Loading (the variable → key map), validation and the
//! configuration reference are all derived from that one declaration ([`section!`]).

use std::fmt::Display;

/// One setting as loading and the reference see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The section's table in `tmahost.toml` (`[proxy]`).
    pub section: &'static str,
    /// The key inside that table (`timeout_secs`).
    pub key: &'static str,
    /// The environment variable (`TMAHOST_PROXY_TIMEOUT_SECS`).
    pub env: &'static str,
    /// The declaration's doc comment.
    pub doc: &'static str,
}

/// A configuration section declared with [`section!`].
pub trait Section: Default + serde::Serialize {
    /// The section's table in `tmahost.toml`.
    const NAME: &'static str;
    /// Its settings, in declaration order.
    const SETTINGS: &'static [Setting];
    /// The first value its checks refuse: the variable and what is wrong.
    fn check(&self) -> Result<(), (&'static str, String)>;
}

/// Checks for [`section!`]'s `check` clause.
pub mod check {
    use super::Display;

    /// Refuses zero (a count, size or interval that must exist).
    pub fn positive<T: Default + PartialOrd>(v: &T) -> Result<(), String> {
        if *v > T::default() { Ok(()) } else { Err("must be greater than zero".into()) }
    }

    /// Refuses values outside `lo..=hi`.
    pub fn between<T: PartialOrd + Display + Copy>(lo: T, hi: T) -> impl Fn(&T) -> Result<(), String> {
        move |v| if (lo..=hi).contains(v) { Ok(()) } else { Err(format!("must be between {lo} and {hi}")) }
    }
}

/// Declares a configuration section: a `serde` struct (defaults for missing keys, unknown keys
/// refused), its `Default`, one associated constant per environment variable (so code that names
/// a variable in a message uses the declaration), and [`Section`].
///
/// ```
/// tmahost_types::section! {
///     /// Example.
///     pub struct Example in "example" {
///         /// Seconds before giving up.
///         EXAMPLE_TIMEOUT_SECS => timeout_secs: u64 = 30, check tmahost_types::settings::check::positive;
///     }
/// }
/// assert_eq!(Example::EXAMPLE_TIMEOUT_SECS, "TMAHOST_EXAMPLE_TIMEOUT_SECS");
/// ```
#[macro_export]
macro_rules! section {
    (
        $(#[doc = $sdoc:literal])*
        pub struct $name:ident in $section:literal {
            $(
                $(#[doc = $doc:literal])*
                $env:ident => $field:ident : $ty:ty = $default:expr
                    $(, parse $parse:literal)? $(, check $check:expr)? ;
            )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                $(#[serde(deserialize_with = $parse)])?
                pub $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }

        impl $name {
            $(
                #[doc = concat!("`TMAHOST_", stringify!($env), "`, which sets `", stringify!($field), "`.")]
                pub const $env: &'static str = concat!("TMAHOST_", stringify!($env));
            )*
        }

        impl $crate::settings::Section for $name {
            const NAME: &'static str = $section;
            const SETTINGS: &'static [$crate::settings::Setting] = &[$(
                $crate::settings::Setting {
                    section: $section,
                    key: stringify!($field),
                    env: concat!("TMAHOST_", stringify!($env)),
                    doc: concat!($($doc, "\n",)*),
                },
            )*];

            fn check(&self) -> Result<(), (&'static str, String)> {
                $($(
                    if let Err(problem) = ($check)(&self.$field) {
                        return Err((Self::$env, problem));
                    }
                )?)*
                Ok(())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::check::{between, positive};
    use super::*;

    crate::section! {
        /// A section for the tests.
        pub struct Sample in "sample" {
            /// Seconds.
            /// Two lines.
            SAMPLE_SECS => secs: u64 = 5, check between(1, 10);
            SAMPLE_COUNT => count: u32 = 1, check positive;
            SAMPLE_NAME => name: Option<String> = None;
        }
    }

    #[test]
    fn a_section_lists_its_settings_with_their_variables_and_docs() {
        let names: Vec<_> = Sample::SETTINGS.iter().map(|s| (s.section, s.key, s.env)).collect();
        assert_eq!(
            names,
            [
                ("sample", "secs", "TMAHOST_SAMPLE_SECS"),
                ("sample", "count", "TMAHOST_SAMPLE_COUNT"),
                ("sample", "name", "TMAHOST_SAMPLE_NAME")
            ]
        );
        assert_eq!(Sample::SETTINGS[0].doc, " Seconds.\n Two lines.\n");
        assert_eq!((Sample::SAMPLE_SECS, Sample::SAMPLE_NAME), ("TMAHOST_SAMPLE_SECS", "TMAHOST_SAMPLE_NAME"));
    }

    #[test]
    fn checks_name_the_variable_and_defaults_pass_them() {
        assert_eq!(Sample::default().check(), Ok(()));
        let s = Sample { secs: 11, ..Sample::default() };
        assert_eq!(s.check(), Err(("TMAHOST_SAMPLE_SECS", "must be between 1 and 10".into())));
        let s = Sample { count: 0, ..Sample::default() };
        assert_eq!(s.check(), Err(("TMAHOST_SAMPLE_COUNT", "must be greater than zero".into())));
    }

    #[test]
    fn unknown_keys_are_refused_and_missing_ones_default() {
        let s: Sample = serde_json::from_str(r#"{"secs": 3}"#).expect("parses");
        assert_eq!((s.secs, s.count), (3, 1));
        let e = serde_json::from_str::<Sample>(r#"{"sec": 3}"#).expect_err("typo");
        assert!(e.to_string().contains("unknown field `sec`"), "{e}");
    }
}
