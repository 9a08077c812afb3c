//! Verbs a PM2 user types that corral does not have, each answered with
//! the sentence that says what to do instead (exit 2), rather than clap's
//! "unrecognized subcommand" and a suggestion that does not help.

use std::ffi::OsString;
use std::process::ExitCode;

use super::EXIT_CONFIG;

/// PM2's verb, and what to do in corral instead.
const HABITS: [(&str, &str); 5] = [
    (
        "delete",
        "corral has no `delete`: remove the app from ecosystem.toml and run `corral reload all`, or `corral stop APP` to stop it",
    ),
    (
        "save",
        "corral has no `save`: the ecosystem file is the state, so there is nothing to save; `corral start` runs it",
    ),
    (
        "resurrect",
        "corral has no `resurrect`: the ecosystem file is the state, so there is nothing to restore; `corral start` runs it",
    ),
    (
        "flush",
        "corral has no `flush`: log files are emptied by rotation (`max_size`, `rotate_interval` and `retain` in `[apps.logs]`), or by logrotate followed by `corral reopen-logs`",
    ),
    (
        "kill",
        "corral has no `kill`: `corral shutdown` stops every worker and the supervisor",
    ),
];

/// The answer to a PM2 verb, if `verb` is one.
pub fn answer(verb: &str) -> Option<&'static str> {
    HABITS
        .iter()
        .find(|(habit, _)| *habit == verb)
        .map(|(_, answer)| *answer)
}

/// Prints the answer and returns exit code 2 if `args` (program name
/// first) starts with a PM2 verb; `None` otherwise.
pub fn run(args: &[OsString]) -> Option<ExitCode> {
    let sentence = answer(args.get(1)?.to_str()?)?;
    eprintln!("{sentence}");
    Some(ExitCode::from(EXIT_CONFIG))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn no_habit_shadows_a_verb() {
        let cli = super::super::Cli::command();
        for (habit, _) in HABITS {
            assert!(
                cli.find_subcommand(habit).is_none(),
                "`{habit}` is a verb now: drop its answer"
            );
        }
    }
}
