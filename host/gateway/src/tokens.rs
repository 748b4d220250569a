//! JWTs from the command line: `archway token` mints a token for a key set of the config
//! (with its HMAC secret, or a private key given), and `archway tokens revoke` puts a token's `jti` on the revocation
//! list every gateway sharing the config's store checks.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use archway_config::Config;
use serde_json::{Map, Value};

/// `archway token`: the claims of a token to mint.
#[derive(Debug, clap::Args)]
pub struct MintArgs {
    /// The gateway config (its `[jwt.key_sets]`).
    #[arg(long)]
    pub config: PathBuf,
    /// The key set to sign with: its HMAC secret, or `--private-key`.
    #[arg(long)]
    pub key_set: String,
    /// For a key set of public keys: the PEM private key to sign with.
    #[arg(long)]
    pub private_key: Option<PathBuf>,
    /// The `sub` claim.
    #[arg(long)]
    pub subject: String,
    /// The `tenant` claim.
    #[arg(long)]
    pub tenant: Option<String>,
    /// A role for the `roles` claim (repeat for more).
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// A permission for the `permissions` claim (repeat for more).
    #[arg(long = "permission")]
    pub permissions: Vec<String>,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub ttl_seconds: u64,
}

/// The `archway tokens` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {
    /// Revoke a token (or a `jti` with its expiry) on every node sharing the store.
    Revoke {
        /// The gateway config (its store).
        #[arg(long)]
        config: PathBuf,
        /// The token to revoke; `-` reads it from standard input, out of `ps` and shell
        /// history.
        #[arg(long, conflicts_with_all = ["jti", "expires_at"], required_unless_present = "jti")]
        token: Option<String>,
        /// The token id to revoke.
        #[arg(long, requires = "expires_at")]
        jti: Option<String>,
        /// When the token expires, in Unix seconds: the entry is kept until then.
        #[arg(long)]
        expires_at: Option<u64>,
    },
}

/// Mints a token and returns it.
pub fn mint(args: &MintArgs) -> anyhow::Result<String> {
    let config = Config::load(&args.config)?;
    let key_set = config.jwt.key_sets.get(&args.key_set).ok_or_else(|| {
        anyhow!(
            "{}: no key set {} in [jwt.key_sets]",
            args.config.display(),
            args.key_set
        )
    })?;
    let mut claims = Map::new();
    claims.insert("sub".to_owned(), args.subject.clone().into());
    if let Some(tenant) = &args.tenant {
        claims.insert("tenant".to_owned(), tenant.clone().into());
    }
    for (name, values) in [("roles", &args.roles), ("permissions", &args.permissions)] {
        if !values.is_empty() {
            claims.insert(name.to_owned(), Value::from(values.clone()));
        }
    }
    archway_jwt::mint(
        key_set,
        args.private_key.as_deref(),
        claims,
        args.ttl_seconds,
    )
    .map_err(|reason| anyhow!("key set {}: {reason}", args.key_set))
}

/// Runs an `archway tokens` subcommand, printing what it did.
pub fn run(command: TokensCommand) -> anyhow::Result<()> {
    let TokensCommand::Revoke {
        config,
        token,
        jti,
        expires_at,
    } = command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = crate::open_store_from_cli(&Config::load(&config)?).await?;
        let (jti, exp) = match token {
            Some(token) => {
                let token = match token.as_str() {
                    "-" => {
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line)?;
                        line.trim().to_owned()
                    }
                    _ => token,
                };
                archway_jwt::revoke_token(&store, &token).await?
            }
            None => {
                let jti = jti.context("give --token, or --jti with --expires-at")?;
                let exp = expires_at.context("--jti needs --expires-at")?;
                archway_jwt::revoke(&store, &jti, exp).await?;
                (jti, exp)
            }
        };
        println!("revoked jti {jti} (kept on the list until {exp} plus leeway)");
        Ok(())
    })
}
