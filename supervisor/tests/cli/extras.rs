//! The command line's edges: internal verbs out of sight, PM2 habits
//! answered, completions and man pages generated from the clap
//! definitions, and `startup systemd` printing a unit systemd accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory as _;
use corral::cli::Cli;

use super::{APP, Folder, text};

/// The verbs only corral itself runs.
const INTERNAL: [&str; 2] = ["exec-step", "guard"];

fn assert_hides_internal_verbs(what: &str, said: &str) {
    for verb in INTERNAL {
        assert!(!said.contains(verb), "{what} mentions `{verb}`:\n{said}");
    }
}

#[test]
fn internal_verbs_are_in_no_help_and_no_suggestion() {
    let folder = Folder::empty();
    let tries: [&[&str]; 6] = [
        &["delete", "api"],
        &["exec"],
        &["gard"],
        &["exec-stop"],
        &["--help"],
        &["help"],
    ];
    for args in tries {
        let output = folder.corral(args);
        let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert_hides_internal_verbs(&format!("`corral {}`", args.join(" ")), &said);
    }
}

#[test]
fn pm2_verbs_get_one_sentence_and_exit_2() {
    let answers = [
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
    let folder = Folder::empty();
    for (verb, sentence) in answers {
        let output = folder.corral(&[verb, "api"]);
        assert_eq!(output.status.code(), Some(2), "corral {verb}");
        assert_eq!(text(&output.stdout), "", "corral {verb}");
        assert_eq!(
            text(&output.stderr),
            format!("{sentence}\n"),
            "corral {verb}"
        );
    }
}

#[test]
fn completions_cover_the_verbs_and_hide_the_internal_ones() {
    let folder = Folder::empty();
    let bash = folder.corral(&["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let script = text(&bash.stdout);
    assert!(script.contains("reload"), "{script}");
    assert_hides_internal_verbs("the bash completion", &script);
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let output = folder.corral(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        assert!(text(&output.stdout).contains("reopen-logs"), "{shell}");
    }
    let unknown = folder.corral(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn the_man_page_mentions_every_verb() {
    let folder = Folder::empty();
    let output = folder.corral(&["man"]);
    assert_eq!(output.status.code(), Some(0));
    // roff writes a hyphen as `\-`.
    let page = text(&output.stdout).replace("\\-", "-");
    assert!(page.starts_with(".ie"), "not roff:\n{page}");
    let verbs: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|v| v.get_name().to_owned())
        .collect();
    for expected in [
        "run",
        "reload",
        "status",
        "monit",
        "startup",
        "completions",
        "man",
    ] {
        assert!(verbs.iter().any(|v| v == expected), "no verb {expected}");
    }
    for verb in &verbs {
        assert!(
            page.contains(&format!("corral-{verb}(1)")),
            "{verb} missing:\n{page}"
        );
    }
    assert_hides_internal_verbs("the man page", &page);
    let reload = folder.corral(&["man", "reload"]);
    assert_eq!(reload.status.code(), Some(0));
    assert!(text(&reload.stdout).contains(".TH corral-reload 1"));
    let missing = folder.corral(&["man", "exec-step"]);
    assert_eq!(missing.status.code(), Some(2));
}

/// A throw-away root for `systemd-analyze verify` (as systemd/verify.sh
/// builds one): systemd's own units, and a stand-in at the unit's binary
/// path, since verify checks that `ExecStart=` can be executed.
fn verify(unit: &str, corral: &Path) -> Result<(), String> {
    let root = tempfile::tempdir().expect("temp root");
    let r = root.path();
    let stand_in = r.join(corral.strip_prefix("/").expect("absolute"));
    std::fs::create_dir_all(stand_in.parent().expect("a folder")).expect("mkdir");
    std::fs::copy("/bin/true", &stand_in).expect("copy /bin/true");
    std::fs::create_dir_all(r.join("etc/systemd/system")).expect("mkdir");
    std::fs::create_dir_all(r.join("usr/lib/systemd")).expect("mkdir");
    let copied = Command::new("cp")
        .args(["-a", "/usr/lib/systemd/system"])
        .arg(r.join("usr/lib/systemd/"))
        .status()
        .expect("run cp");
    assert!(copied.success(), "cannot copy systemd's units");
    let path = r.join("etc/systemd/system/corral.service");
    std::fs::write(&path, unit).expect("write the unit");
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", r.display()))
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
    if output.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(said)
    }
}

/// `key=` values of a unit.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn startup_systemd_prints_a_unit_systemd_accepts_for_this_file() {
    let folder = Folder::with(&format!("{APP}kill_timeout = \"50s\"\n"));
    let output = folder.corral(&["startup", "systemd"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let unit = text(&output.stdout);
    let base = folder.path().canonicalize().expect("canonical temp dir");
    let corral = PathBuf::from(env!("CARGO_BIN_EXE_corral"))
        .canonicalize()
        .expect("canonical corral");
    let file = base.join("ecosystem.toml");
    let socket = base.join("run/corral.sock");
    assert_eq!(
        values(&unit, "ExecStart"),
        [format!("{} run {}", corral.display(), file.display())]
    );
    assert_eq!(
        values(&unit, "ExecReload"),
        [format!(
            "{} reload all --socket {}",
            corral.display(),
            socket.display()
        )]
    );
    assert_eq!(
        values(&unit, "WorkingDirectory"),
        [base.display().to_string()]
    );
    assert_eq!(
        values(&unit, "ReadWritePaths"),
        [format!(
            "{} {}",
            base.join("logs").display(),
            base.join("run").display()
        )]
    );
    assert_eq!(values(&unit, "TimeoutStopSec"), ["60s"]);
    let root = nix::unistd::Uid::effective().is_root();
    assert_eq!(
        values(&unit, "User").is_empty(),
        root,
        "User= only when not root"
    );
    let steps = text(&output.stderr);
    for step in [
        "/etc/systemd/system/corral.service",
        "systemctl daemon-reload",
        "systemctl enable --now corral.service",
    ] {
        assert!(steps.contains(step), "{step} missing from:\n{steps}");
    }
    if which("systemd-analyze").is_none() {
        eprintln!("skipped: systemd-analyze verify (systemd-analyze is not installed)");
        return;
    }
    if let Err(said) = verify(&unit, &corral) {
        panic!("systemd-analyze verify refused the unit:\n{said}\n{unit}");
    }
}

#[test]
fn startup_refuses_a_broken_file_like_check() {
    let folder = Folder::with(&format!("{APP}bogus = 1\n"));
    let output = folder.corral(&["startup", "systemd"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "");
}

#[test]
fn monit_needs_a_terminal() {
    let output = Folder::with(APP).corral(&["monit"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("corral status --json"));
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}
