//! `archway-example-upstream --listen ADDR` serves the echo upstream until killed.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "archway-example-upstream",
    version,
    about = "Example upstream: echoes every request as JSON"
)]
struct Cli {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let listener = match tokio::net::TcpListener::bind(cli.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: listen on {}: {error}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "archway-example-upstream listening on http://{}",
        cli.listen
    );
    archway_example_upstream::serve(listener).await;
    ExitCode::SUCCESS
}
