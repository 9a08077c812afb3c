//! `ceiling --routes FILE [--listen ADDR]`: serves the recorded answers and
//! prints `listening on ADDR` (the bound address) once it accepts.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bench_ceiling::routes::Routes;
use bench_ceiling::serve::serve;
use clap::Parser;

/// The ceiling server of the benchmark suite.
#[derive(Debug, Parser)]
#[command(
    name = "ceiling",
    about = "Answers each benchmarked path with fixed, recorded bytes"
)]
struct Cli {
    /// The JSON file of recorded answers the suite wrote.
    #[arg(long)]
    routes: PathBuf,
    /// Where to listen; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ceiling: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let routes = Routes::load(&cli.routes)?;
    // One runtime thread per CPU, as the app has when it runs alone.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(cli.listen)
            .await
            .with_context(|| format!("binding {}: pick a free address", cli.listen))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on {bound}")?;
        stdout.flush()?;
        serve(listener, routes)
            .await
            .context("accepting connections")
    })
}
