//! The client commands' arguments, as clap reads them.

use super::DeployArgs;

/// Which app a command acts on.
#[derive(Debug, clap::Args)]
pub struct AppArgs {
    /// Bot id, username or host label.
    #[arg(long)]
    pub bot: String,
    /// App slug.
    #[arg(long, default_value = "main")]
    pub app: String,
}

/// Options of the client commands that call the API (operator commands, which act on the
/// server's own database, do not show them).
#[derive(Debug, clap::Args)]
pub struct Remote {
    /// The API's base URL, e.g. https://api.example.com (default: the one `tmahost login` stored).
    #[arg(long, env = "TMAHOST_SERVER")]
    pub server: Option<String>,
    /// Print the server's JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Deploy a build folder (only new contents are uploaded) or a .zip / .tar.gz.
    Deploy {
        #[command(flatten)]
        args: DeployArgs,
        #[command(flatten)]
        remote: Remote,
    },
    /// List an app's deployments, newest first.
    Deployments {
        #[command(flatten)]
        app: AppArgs,
        #[command(flatten)]
        remote: Remote,
    },
    /// Serve an earlier deployment again (default: the one live before the current one).
    Rollback {
        #[command(flatten)]
        app: AppArgs,
        /// The version to serve, e.g. 3 or v3.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Make a deployment (usually a staged one) the active one, without uploading again.
    Promote {
        /// The deployment id printed by `tmahost deploy --stage`.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Pin a deployment so retention keeps it whatever its age (`--off` unpins it).
    Pin {
        #[command(flatten)]
        app: AppArgs,
        /// The version (3 or v3) or deployment id.
        deployment: String,
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show how many deployments retention keeps for an app, or set it (`default`: the
    /// platform's). The active, pinned and skew-protection deployments are kept besides.
    Keep {
        #[command(flatten)]
        app: AppArgs,
        /// How many of the newest deployments to keep (1-1000), or `default`.
        count: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show what a bot stores (distinct contents its deployments name) and its limit; admins can
    /// set the bot's own limit (`--set-max BYTES`, 0 for none, or `default` for the platform's).
    Usage {
        /// Bot id, username or host label.
        #[arg(long)]
        bot: String,
        #[arg(long, value_name = "BYTES|default")]
        set_max: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the apps of a bot, or of every bot you can see.
    Apps {
        #[arg(long)]
        bot: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the bots you can see.
    Bots {
        #[command(flatten)]
        remote: Remote,
    },
    /// Show an app's custom domain and the DNS TXT record that proves you control it; with
    /// `--verify`, ask the server to look for the record now. Set the domain in the app's
    /// settings (`custom_domain`) first.
    Domain {
        #[command(flatten)]
        app: AppArgs,
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List an app's backends (path prefixes the edge forwards to your own servers, with the
    /// verified user as a signed `Tma-Identity` token), or change them.
    Backends {
        #[command(flatten)]
        app: AppArgs,
        /// Add a route, or replace the one with the same prefix:
        /// "PREFIX UPSTREAM [strip] [public]", e.g. "/api/ https://api.example.com strip".
        #[arg(long, value_name = "ROUTE")]
        add: Vec<String>,
        /// Remove the route with this prefix.
        #[arg(long, value_name = "PREFIX")]
        remove: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print a URL that opens a gated app in a normal browser, with launch parameters signed for
    /// a test user in the fragment, as a current Telegram client sends them (valid for the
    /// app's max initData age, 1 hour by default), and on stderr the same options in the
    /// dashboard's Telegram emulator. Needs the deploy right on the app.
    DevLink {
        #[command(flatten)]
        args: DevLinkArgs,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete an app with its deployments, settings, domain and analytics (owners and admins).
    /// Asks for the app's slug to be typed, or takes it as `--confirm`.
    DeleteApp {
        #[command(flatten)]
        app: AppArgs,
        /// The app's slug again, to confirm without a prompt (scripts).
        #[arg(long)]
        confirm: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete a bot with all its apps, deployments, members and analytics (owners and admins);
    /// tokens scoped to it alone stop working. Asks for the bot's username to be typed, or
    /// takes it as `--confirm`.
    DeleteBot {
        /// Bot id, username or host label.
        #[arg(long)]
        bot: String,
        /// The bot's username again, to confirm without a prompt (scripts).
        #[arg(long)]
        confirm: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Store the server URL and an API token (read from TMAHOST_TOKEN or standard input) in
    /// the user's config dir, readable by the user only.
    Login {
        /// The API's base URL, e.g. https://api.example.com.
        #[arg(long, env = "TMAHOST_SERVER")]
        server: Option<String>,
    },
    /// Forget the stored server and token.
    Logout,
}

#[derive(Debug, clap::Args)]
pub struct DevLinkArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// Open this deployment (id or v3) on its preview host instead of the active one.
    #[arg(long)]
    pub deployment: Option<String>,
    #[arg(long, default_value_t = 1_000_000_001)]
    pub user_id: i64,
    #[arg(long, default_value = "Dev")]
    pub first_name: String,
    #[arg(long)]
    pub last_name: Option<String>,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long, default_value = "en")]
    pub language_code: String,
    #[arg(long)]
    pub premium: bool,
    /// The `start_param` (from `t.me/bot/app?startapp=…`).
    #[arg(long)]
    pub start_param: Option<String>,
    /// The client to stand in for (`tgWebAppPlatform`).
    #[arg(long, default_value = "weba", value_parser = clap::builder::PossibleValuesParser::new(tmahost_service::PLATFORMS.iter().copied()))]
    pub platform: String,
    /// Launch with Telegram Web A's dark theme.
    #[arg(long)]
    pub dark: bool,
}

impl ClientCommand {
    /// The API options of a command that calls the API.
    pub(super) fn remote(&self) -> Option<&Remote> {
        match self {
            Self::Deploy { remote, .. }
            | Self::Deployments { remote, .. }
            | Self::Rollback { remote, .. }
            | Self::Promote { remote, .. }
            | Self::Pin { remote, .. }
            | Self::Keep { remote, .. }
            | Self::Usage { remote, .. }
            | Self::Apps { remote, .. }
            | Self::Bots { remote }
            | Self::Domain { remote, .. }
            | Self::Backends { remote, .. }
            | Self::DevLink { remote, .. }
            | Self::DeleteApp { remote, .. }
            | Self::DeleteBot { remote, .. } => Some(remote),
            Self::Login { .. } | Self::Logout => None,
        }
    }
}
