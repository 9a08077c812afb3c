//! `corral completions SHELL` and `corral man [VERB]`: shell completions
//! and man pages generated from the clap definitions ([`super::Cli`]).
//!
//! Generated at run time, not at build time: the binary always describes
//! itself (no file to install that could lag behind it), the build needs
//! no `build.rs` that would have to compile the CLI twice, and packagers
//! get the same files with `corral completions bash > ...` and `corral
//! man > corral.1`.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::{Cli, EXIT_CONFIG, EXIT_FAILED};

/// `completions SHELL`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: Shell,
}

/// `man [VERB]`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// A verb's own page (`corral-reload(1)`) instead of `corral(1)`.
    pub verb: Option<String>,
}

/// Prints the completion script for `args.shell`.
pub(super) fn completions(args: &CompletionsArgs) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "corral", &mut script);
    emit(&script)
}

/// Prints a man page in roff.
pub(super) fn man(args: &ManArgs) -> ExitCode {
    let mut cli = Cli::command().disable_help_subcommand(true);
    // Building names each verb `corral-VERB` and its usage `corral VERB`.
    cli.build();
    let page = match &args.verb {
        None => cli,
        Some(verb) => match cli.find_subcommand(verb) {
            Some(sub) => sub.clone(),
            None => {
                eprintln!("corral: there is no verb `{verb}`: `corral man` lists them all");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
    };
    let mut roff = Vec::new();
    match clap_mangen::Man::new(page).render(&mut roff) {
        Ok(()) => emit(&roff),
        Err(err) => {
            eprintln!("corral: cannot render the man page: {err}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn emit(bytes: &[u8]) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("corral: cannot write to stdout: {err}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
