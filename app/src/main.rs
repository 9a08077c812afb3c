//! The `app` binary: parse the command line, read the settings, set up
//! logging, and hand over to [`app::cli::run`] for the exit code.

use std::process::ExitCode;

use app::cli::Cli;
use app::infrastructure::malloc;
use app::infrastructure::settings::Settings;
use app::infrastructure::telemetry;
use clap::Parser as _;

fn main() -> ExitCode {
    malloc::limit_arenas();
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("app: {error}");
            return ExitCode::from(2);
        }
    };
    let _flush = telemetry::init(
        settings.log_format,
        &settings.log_filter,
        cli.log_sink(),
        settings.access_log,
    );
    app::cli::run(cli, settings)
}
