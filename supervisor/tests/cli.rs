//! The `corral` binary as an operator meets it: `corral check` and
//! `corral run` on ecosystem files, good and broken.
//!
//! Every test runs the real binary in its own temporary folder, with the file
//! named `ecosystem.toml` relative to that folder, so error lines read exactly
//! as they would on a server. A broken file must be refused by both verbs
//! with exit code 2 and the same single line on stderr; `run` must refuse it
//! at once, before it binds, logs or starts anything. The same holds for a
//! log folder or file that cannot be written ([`log_dir`]).

#[path = "cli/extras.rs"]
mod extras;
#[path = "cli/log_dir.rs"]
mod log_dir;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

/// The smallest valid app; tests append one line to break it on line 4.
const APP: &str = "[[apps]]\nname = \"api\"\ncommand = \"app\"\n";

/// How long any `corral` invocation here may take. Each one should finish
/// in milliseconds; the bound only turns a hang (a `run` that started
/// serving) into a failure instead of a stuck test.
const DEADLINE: Duration = Duration::from_secs(20);

/// A temporary folder that `corral` runs in.
struct Folder {
    dir: TempDir,
}

impl Folder {
    /// An empty folder.
    fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("create a temp dir"),
        }
    }

    /// A folder holding `ecosystem.toml` with `text`.
    fn with(text: &str) -> Self {
        let folder = Self::empty();
        folder.write("ecosystem.toml", text);
        folder
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).expect("write a file in the temp dir");
    }

    /// Runs `corral ARGS` in this folder and returns what it did, killing it
    /// and failing the test if it outlives [`DEADLINE`].
    fn corral(&self, args: &[&str]) -> Output {
        let child = Command::new(env!("CARGO_BIN_EXE_corral"))
            .args(args)
            .current_dir(self.path())
            // What the test runner may have inherited from systemd or a
            // developer's shell must not change what corral prints.
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("CORRAL_LOG_FORMAT")
            .env_remove("CORRAL_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn corral");
        let pid = Pid::from_raw(child.id() as i32);
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || done.send(child.wait_with_output()));
        match finished.recv_timeout(DEADLINE) {
            Ok(output) => output.expect("wait for corral"),
            Err(_) => {
                let _ = kill(pid, Signal::SIGKILL);
                panic!(
                    "`corral {}` still running after {DEADLINE:?}",
                    args.join(" ")
                );
            }
        }
    }

    /// Runs `corral check ARGS`, expects success and returns stdout.
    fn check_ok(&self, args: &[&str]) -> String {
        let output = self.corral(&[&["check"], args].concat());
        assert_eq!(
            output.status.code(),
            Some(0),
            "corral check {args:?} failed: {}",
            text(&output.stderr)
        );
        assert_eq!(text(&output.stderr), "", "check wrote to stderr");
        text(&output.stdout)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("corral prints UTF-8")
}

/// Checks that `output` is a config refusal (exit 2, nothing on stdout,
/// one line on stderr) and returns that line.
fn refusal(output: &Output, what: &str) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{what} should exit 2; stderr: {stderr}"
    );
    assert_eq!(text(&output.stdout), "", "{what} wrote to stdout");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{what} should print one line: {stderr}"
    );
    stderr.trim_end().to_owned()
}

/// Runs both `corral check` and `corral run` with `args` on `text`; both
/// must refuse it with the same line, and `run` must leave no trace of
/// having started. Returns the line.
fn refused(text: &str, args: &[&str]) -> String {
    let folder = Folder::with(text);
    let check = refusal(&folder.corral(&[&["check"], args].concat()), "check");
    let run = refusal(&folder.corral(&[&["run"], args].concat()), "run");
    assert_eq!(check, run, "check and run disagree");
    assert_started_nothing(&folder);
    check
}

/// `refused` for `APP` plus `line`, which is then line 4 of the file.
fn refused_with(line: &str) -> String {
    refused(&format!("{APP}{line}\n"), &[])
}

/// The log folder is created when the first worker's logs are opened, and
/// `run/` will be when the control socket is bound: neither may exist after
/// a refusal.
fn assert_started_nothing(folder: &Folder) {
    for made_by_run in ["logs", "run"] {
        assert!(
            !folder.path().join(made_by_run).exists(),
            "a refused `corral run` created {made_by_run}/"
        );
    }
}

// --- unknown keys -----------------------------------------------------------

#[test]
fn unknown_top_level_key_suggests_apps() {
    assert_eq!(
        refused(&format!("app = 1\n{APP}"), &[]),
        "corral: ecosystem.toml:1:1: unknown key `app` in the top-level table, did you mean `apps`?"
    );
}

#[test]
fn unknown_supervisor_key_suggests_the_close_one() {
    assert_eq!(
        refused(
            &format!("[supervisor]\nadmin_listn = \"127.0.0.1:9615\"\n\n{APP}"),
            &[]
        ),
        "corral: ecosystem.toml:2:1: unknown key `admin_listn` in [supervisor], did you mean `admin_listen`?"
    );
}

#[test]
fn unknown_app_key_suggests_the_close_one() {
    assert_eq!(
        refused_with("max_memory_restar = \"1G\""),
        "corral: ecosystem.toml:4:1: unknown key `max_memory_restar` in [[apps]], did you mean `max_memory_restart`?"
    );
}

#[test]
fn unknown_key_in_inline_health_check_points_inside_the_braces() {
    assert_eq!(
        refused_with("health_check = { path = \"/health\", intervl = \"5s\" }"),
        "corral: ecosystem.toml:4:36: unknown key `intervl` in health_check, did you mean `interval`?"
    );
}

#[test]
fn unknown_key_in_logs_table_suggests_the_close_one() {
    assert_eq!(
        refused_with("[apps.logs]\nmax_sise = \"10M\""),
        "corral: ecosystem.toml:5:1: unknown key `max_sise` in logs, did you mean `max_size`?"
    );
}

#[test]
fn unknown_key_far_from_any_lists_the_valid_keys() {
    assert_eq!(
        refused_with("logs = { zzz = 1 }"),
        "corral: ecosystem.toml:4:10: unknown key `zzz` in logs; valid keys are out, error, format, max_size, retain, compress, rotate_interval"
    );
}

// --- values -----------------------------------------------------------------

#[test]
fn duration_with_an_unknown_unit_is_refused_at_the_value() {
    let line = refused_with("kill_timeout = \"5 parsecs\"");
    assert_eq!(
        line,
        "corral: ecosystem.toml:4:16: apps[0].kill_timeout: invalid duration \"5 parsecs\": unknown unit \"parsecs\"; use ms, s, m, h or d"
    );
}

#[test]
fn duration_in_months_is_refused_with_the_units_to_use() {
    assert_eq!(
        refused_with("min_uptime = \"1M\""),
        "corral: ecosystem.toml:4:14: apps[0].min_uptime: invalid duration \"1M\": use ms, s, m, h or d"
    );
}

#[test]
fn duration_without_a_unit_is_refused() {
    assert_eq!(
        refused_with("kill_timeout = 5"),
        "corral: ecosystem.toml:4:16: apps[0].kill_timeout: invalid duration 5: write a unit, e.g. \"5s\" or \"250ms\""
    );
}

#[test]
fn size_with_an_unknown_unit_is_refused() {
    assert_eq!(
        refused_with("max_memory_restart = \"512X\""),
        "corral: ecosystem.toml:4:22: apps[0].max_memory_restart: invalid size \"512X\": unknown unit \"X\"; use K, M, G or T (powers of 1024), e.g. \"512M\""
    );
}

#[test]
fn zero_size_is_refused_as_a_string_and_as_an_integer() {
    for zero in ["0", "\"0\"", "\"0M\""] {
        assert_eq!(
            refused_with(&format!("max_memory_restart = {zero}")),
            "corral: ecosystem.toml:4:22: apps[0].max_memory_restart: must be at least 1 byte"
        );
    }
}

#[test]
fn integer_out_of_range_states_the_bounds() {
    assert_eq!(
        refused_with("listen_backlog = 0"),
        "corral: ecosystem.toml:4:18: apps[0].listen_backlog: must be between 1 and 65535, got 0"
    );
}

#[test]
fn value_of_the_wrong_type_is_refused() {
    assert_eq!(
        refused_with("autorestart = \"yes\""),
        "corral: ecosystem.toml:4:15: apps[0].autorestart: expected true or false, found a string"
    );
}

#[test]
fn toml_syntax_error_points_at_the_spot() {
    assert_eq!(
        refused("[[apps]]\nname = \"api\ncommand = \"app\"\n", &[]),
        "corral: ecosystem.toml:2:12: invalid basic string, expected `\"`"
    );
}

// --- apps as a whole --------------------------------------------------------

#[test]
fn duplicate_app_name_names_the_line_of_the_first() {
    assert_eq!(
        refused(&format!("{APP}\n{APP}"), &[]),
        "corral: ecosystem.toml:6:8: apps[1].name: duplicate app name \"api\", first used on line 2"
    );
}

#[test]
fn app_without_command_is_refused_at_its_header() {
    assert_eq!(
        refused(
            &format!("{APP}\n[[apps]]\nname = \"jobs\"\nargs = [\"x\"]\n"),
            &[]
        ),
        "corral: ecosystem.toml:5:1: apps[1]: missing required key `command`"
    );
}

#[test]
fn file_without_apps_is_refused() {
    assert_eq!(
        refused("[supervisor]\nlog_dir = \"logs\"\n", &[]),
        "corral: ecosystem.toml: no [[apps]] table; define at least one app"
    );
}

#[test]
fn env_that_selects_no_table_is_refused() {
    let file = format!(
        "{APP}\n[apps.env]\nRUST_LOG = \"info\"\n\n[apps.env_production]\nRUST_LOG = \"warn\"\n"
    );
    assert_eq!(
        refused(&file, &["--env", "staging"]),
        "corral: ecosystem.toml: no app has [apps.env_staging]; --env staging selects nothing"
    );
}

// --- files ------------------------------------------------------------------

#[test]
fn missing_file_is_one_sentence() {
    let folder = Folder::empty();
    for verb in ["check", "run"] {
        assert_eq!(
            refusal(&folder.corral(&[verb, "nope.toml"]), verb),
            "corral: cannot read nope.toml: No such file or directory"
        );
    }
    assert_started_nothing(&folder);
}

#[test]
fn missing_default_file_names_ecosystem_toml() {
    let folder = Folder::empty();
    for verb in ["check", "run"] {
        assert_eq!(
            refusal(&folder.corral(&[verb]), verb),
            "corral: cannot read ecosystem.toml: No such file or directory"
        );
    }
}

#[test]
fn run_refuses_a_broken_file_before_starting_any_app() {
    // The first app is valid and would leave `started` behind if it ran;
    // the second is broken, so the whole file is refused and nothing runs.
    let folder = Folder::with(
        "[[apps]]\nname = \"marker\"\ncommand = \"touch\"\nargs = [\"started\"]\n\n\
         [[apps]]\nname = \"api\"\ncommand = \"app\"\nkill_timeout = 5\n",
    );
    let line = refusal(&folder.corral(&["run"]), "run");
    assert_eq!(
        line,
        "corral: ecosystem.toml:9:16: apps[1].kill_timeout: invalid duration 5: write a unit, e.g. \"5s\" or \"250ms\""
    );
    assert!(
        !folder.path().join("started").exists(),
        "an app was started"
    );
    assert_started_nothing(&folder);
}

// --- the command line itself ------------------------------------------------

#[test]
fn unknown_verb_exits_2() {
    let output = Folder::empty().corral(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: unrecognized subcommand 'frobnicate'"),
        "{stderr}"
    );
}

#[test]
fn unknown_flag_exits_2() {
    let folder = Folder::with(APP);
    for verb in ["check", "run"] {
        let output = folder.corral(&[verb, "--bogus"]);
        assert_eq!(output.status.code(), Some(2), "{verb}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.starts_with("error: unexpected argument '--bogus' found"),
            "{stderr}"
        );
    }
    assert_started_nothing(&folder);
}

#[test]
fn no_verb_exits_2_with_usage() {
    let output = Folder::empty().corral(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("Usage: corral <COMMAND>"));
}

// --- corral check on a valid file ------------------------------------------

/// A deployment using overlays, secrets, "max" and most defaults.
const FULL: &str = r#"
[supervisor]
admin_listen = "127.0.0.1:9615"

[[apps]]
name = "api"
command = "target/release/app"
instances = "max"
listen = ["0.0.0.0:3000"]
kill_timeout = "10s"
max_memory_restart = "512M"
health_check = { path = "/ready" }
logs = { max_size = "10M", rotate_interval = "daily" }

[apps.env]
RUST_LOG = "info"
DATABASE_PASSWORD = "hunter2"
DATABASE_URL = "postgres://api:hunter3@db/api"

[apps.env_production]
RUST_LOG = "warn"
API_TOKEN = "s3cr3t-token"

[[apps]]
name = "jobs"
command = "python3"
args = ["jobs.py"]
"#;

/// Parses `corral check`'s output, which must be TOML.
fn parse(stdout: &str) -> toml::Table {
    stdout
        .parse()
        .unwrap_or_else(|e| panic!("check printed invalid TOML: {e}\n{stdout}"))
}

#[test]
fn check_prints_the_resolved_config_with_defaults_filled() {
    let folder = Folder::with(FULL);
    let stdout = folder.check_ok(&[]);
    let doc = parse(&stdout);
    let base = folder
        .path()
        .canonicalize()
        .expect("canonical temp dir")
        .display()
        .to_string();
    let sup = &doc["supervisor"];
    assert_eq!(sup["log_dir"].as_str(), Some(&*format!("{base}/logs")));
    assert_eq!(
        sup["control_socket"].as_str(),
        Some(&*format!("{base}/run/corral.sock"))
    );
    assert_eq!(sup["admin_listen"].as_str(), Some("127.0.0.1:9615"));

    let api = &doc["apps"][0];
    // Not `{base}/.`: the default "." is tidied away.
    assert_eq!(api["cwd"].as_str(), Some(&*base));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        stdout.contains(&format!("instances = {cpus} # \"max\" on this machine\n")),
        "{stdout}"
    );
    for (key, value) in [
        ("kill_signal", "SIGTERM"),
        ("kill_timeout", "10s"),
        ("listen_timeout", "3s"),
        ("min_uptime", "1s"),
        ("restart_delay", "0ms"),
        ("max_memory_restart", "512M"),
        ("memory_check_interval", "1s"),
        ("exp_backoff_restart_delay", "100ms"),
        ("log_date_format", "%Y-%m-%dT%H:%M:%S%.3f%:z"),
    ] {
        assert_eq!(api[key].as_str(), Some(value), "{key}");
    }
    assert_eq!(api["listen_backlog"].as_integer(), Some(1024));
    assert_eq!(api["max_restarts"].as_integer(), Some(16));
    assert_eq!(api["memory_check_samples"].as_integer(), Some(3));
    assert_eq!(api["wait_ready"].as_bool(), Some(false));
    assert_eq!(api["autorestart"].as_bool(), Some(true));
    let health = &api["health_check"];
    assert_eq!(health["path"].as_str(), Some("/ready"));
    assert_eq!(health["interval"].as_str(), Some("5s"));
    assert_eq!(health["timeout"].as_str(), Some("2s"));
    assert_eq!(health["grace_period"].as_str(), Some("3s"));
    assert_eq!(health["failures"].as_integer(), Some(3));
    let logs = &api["logs"];
    assert_eq!(logs["out"].as_str(), Some("api-out.log"));
    assert_eq!(logs["error"].as_str(), Some("api-error.log"));
    assert_eq!(logs["max_size"].as_str(), Some("10M"));
    assert_eq!(logs["retain"].as_integer(), Some(30));
    assert_eq!(logs["compress"].as_bool(), Some(false));
    assert_eq!(logs["rotate_interval"].as_str(), Some("daily"));

    // Keys that are off are shown as comments, not left out silently.
    for off in [
        "# user: off",
        "# watchdog: off",
        "# max_memory_restart: off",
        "# health_check: off",
    ] {
        assert!(stdout.contains(off), "missing {off:?} in\n{stdout}");
    }
    let jobs = &doc["apps"][1];
    assert_eq!(jobs["args"].as_array().map(Vec::len), Some(1));
    assert_eq!(jobs["instances"].as_integer(), Some(1));
    assert_eq!(jobs["logs"]["out"].as_str(), Some("jobs-out.log"));
}

#[test]
fn check_without_env_uses_the_base_env_table() {
    let doc = parse(&Folder::with(FULL).check_ok(&[]));
    let env = doc["apps"][0]["env"].as_table().expect("[apps.env]");
    assert_eq!(env["RUST_LOG"].as_str(), Some("info"));
    assert!(!env.contains_key("API_TOKEN"), "{env:?}");
}

#[test]
fn check_with_env_production_applies_the_overlay() {
    let doc = parse(&Folder::with(FULL).check_ok(&["--env", "production"]));
    let env = doc["apps"][0]["env"].as_table().expect("[apps.env]");
    assert_eq!(env["RUST_LOG"].as_str(), Some("warn"));
    assert!(env.contains_key("API_TOKEN"), "{env:?}");
    assert!(env.contains_key("DATABASE_PASSWORD"), "{env:?}");
}

#[test]
fn check_masks_secret_looking_env_values() {
    let stdout = Folder::with(FULL).check_ok(&["--env", "production"]);
    assert!(stdout.contains("DATABASE_PASSWORD = \"***\"\n"), "{stdout}");
    assert!(stdout.contains("API_TOKEN = \"***\"\n"), "{stdout}");
    assert!(
        stdout.contains("DATABASE_URL = \"postgres://api:***@db/api\"\n"),
        "{stdout}"
    );
    assert!(stdout.contains("RUST_LOG = \"warn\"\n"), "{stdout}");
    for secret in ["hunter2", "hunter3"] {
        assert!(!stdout.contains(secret), "a secret leaked:\n{stdout}");
    }
    assert!(
        !stdout.contains("s3cr3t-token"),
        "a secret leaked:\n{stdout}"
    );
}

/// The output minus what legitimately differs on a second pass: the
/// `# resolved from` header and the note after a resolved `instances`.
fn normalised(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|line| !line.starts_with("# resolved from "))
        .map(|line| match line.split_once(" # ") {
            Some((setting, _)) if line.starts_with("instances = ") => setting,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn check_output_is_a_valid_ecosystem_file_that_resolves_the_same() {
    let folder = Folder::with(FULL);
    let first = folder.check_ok(&["--env", "production"]);
    folder.write("resolved.toml", &first);
    // The overlay is already merged into [apps.env], so no --env this time.
    let second = folder.check_ok(&["resolved.toml"]);
    assert_eq!(normalised(&first), normalised(&second));
}
