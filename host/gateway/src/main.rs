//! `archway serve --config FILE` runs the gateway; `archway check --config FILE`
//! validates a config and starts every plugin once, then exits.

use std::path::PathBuf;
use std::process::ExitCode;

use archway_config::Config;
use clap::{Parser, Subcommand};

/// mimalloc's thread-local free lists suit a proxy's many short-lived allocations:
/// measured with bench/run.sh, glibc malloc was the largest single user-space cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "archway",
    version,
    about = "An API gateway programmed with WebAssembly plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve traffic with the given config.
    Serve {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate the config and start every plugin once, then exit.
    Check {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Create, list and revoke the API keys of the config's api-key-auth plugin.
    Keys {
        #[command(subcommand)]
        command: archway::keys::KeysCommand,
    },
    /// Mint a token for a key set of the config and print it.
    Token(archway::tokens::MintArgs),
    /// Revoke tokens on every gateway sharing the config's store.
    Tokens {
        #[command(subcommand)]
        command: archway::tokens::TokensCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => serve(&config),
        Command::Check { config } => check(&config),
        Command::Keys { command } => archway::keys::run(command),
        Command::Token(args) => archway::tokens::mint(&args).map(|token| println!("{token}")),
        Command::Tokens { command } => archway::tokens::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: &std::path::Path) -> anyhow::Result<()> {
    let file = archway::ConfigFile::read(path)?;
    archway::telemetry::init(&file.config.log);
    let mut runtime = match file.config.server.workers {
        // One worker: a current-thread runtime, which pays for no work stealing.
        1 => tokio::runtime::Builder::new_current_thread(),
        workers => {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            if workers > 0 {
                runtime.worker_threads(workers);
            }
            runtime
        }
    };
    runtime.enable_all().build()?.block_on(archway::serve(file))
}

fn check(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(archway::check(&config))?;
    println!("{}: ok, {} routes", path.display(), report.routes);
    for (name, roles) in report.plugins {
        println!("  plugin {name}: {roles}");
    }
    for warning in report.warnings {
        println!("  warning: {warning}");
    }
    Ok(())
}
