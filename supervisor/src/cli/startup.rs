//! `corral startup systemd [FILE]`: prints a systemd unit that runs this
//! ecosystem file with this corral binary as this user ([`super::unit`]),
//! and on stderr what to do with it, so stdout can go straight to a file.

use std::path::Path;
use std::process::ExitCode;

use nix::unistd::{Group, Uid, User};

use super::unit::{self, Host};
use super::{FileArgs, config_error};
use crate::config;

/// The init systems `startup` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Init {
    /// A systemd service unit.
    Systemd,
}

/// `startup systemd [FILE] [--env NAME]`.
#[derive(Debug, clap::Args)]
pub struct StartupArgs {
    /// The init system.
    pub init: Init,
    #[command(flatten)]
    file: FileArgs,
}

/// Prints the unit, then the steps to install it.
pub(super) fn run(args: &StartupArgs) -> ExitCode {
    let Init::Systemd = args.init;
    let eco = match config::load(&args.file.file, args.file.env.as_deref()) {
        Ok(eco) => eco,
        Err(err) => return config_error(&err),
    };
    let host = match host() {
        Ok(host) => host,
        Err(err) => return config_error(&err),
    };
    let unit = match unit::render(&eco, args.file.env.as_deref(), &host) {
        Ok(unit) => unit,
        Err(err) => return config_error(&err),
    };
    print!("{}", unit.text);
    eprint!(
        "{}",
        instructions(&eco.supervisor.control_socket, &host, &unit.read_write)
    );
    ExitCode::SUCCESS
}

/// This binary and the user running it.
fn host() -> Result<Host, String> {
    let corral = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|err| format!("cannot tell where this corral binary is: {err}"))?;
    let uid = Uid::effective();
    if uid.is_root() {
        return Ok(Host { corral, user: None });
    }
    let user = User::from_uid(uid)
        .ok()
        .flatten()
        .ok_or_else(|| format!("uid {uid} has no user name: run as a user with one, or as root"))?;
    let group = Group::from_gid(user.gid)
        .ok()
        .flatten()
        .map_or_else(|| user.gid.to_string(), |g| g.name);
    Ok(Host {
        corral,
        user: Some((user.name, group)),
    })
}

/// Where to save the unit and how to start it.
fn instructions(socket: &Path, host: &Host, missing: &[std::path::PathBuf]) -> String {
    let sudo = if host.user.is_some() { "sudo " } else { "" };
    let mut out = String::from(
        "corral: save the unit above as /etc/systemd/system/corral.service (or corral-NAME.service for a second ecosystem), then:\n",
    );
    let missing: Vec<_> = missing.iter().filter(|p| !p.exists()).collect();
    if !missing.is_empty() {
        let owner = match &host.user {
            Some((user, group)) => format!("-o {user} -g {group} "),
            None => String::new(),
        };
        let dirs: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
        out.push_str(&format!(
            "  {sudo}install -d -m 0750 {owner}{}   # ReadWritePaths= must exist\n",
            dirs.join(" ")
        ));
    }
    out.push_str(&format!(
        "  {sudo}systemctl daemon-reload\n  {sudo}systemctl enable --now corral.service\n  corral status --socket {}\n",
        socket.display()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_told_to_use_sudo_and_to_create_missing_folders_as_themselves() {
        let host = Host {
            corral: "/usr/local/bin/corral".into(),
            user: Some(("alice".into(), "staff".into())),
        };
        let said = instructions(
            Path::new("/srv/x/run/corral.sock"),
            &host,
            &["/nonexistent/corral-logs".into(), "/".into()],
        );
        assert!(
            said.contains("sudo install -d -m 0750 -o alice -g staff /nonexistent/corral-logs   #")
        );
        assert!(said.contains("sudo systemctl enable --now corral.service"));
        assert!(said.contains("corral status --socket /srv/x/run/corral.sock"));
    }
}
