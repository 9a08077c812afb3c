use super::*;

/// Loads `toml` as an ecosystem file in a temp dir (which holds it).
fn eco(toml: &str) -> (tempfile::TempDir, Ecosystem) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ecosystem.toml");
    std::fs::write(&path, toml).expect("write the file");
    let eco = crate::config::load(&path, None).expect("a valid file");
    (dir, eco)
}

fn root() -> Host {
    Host {
        corral: "/usr/local/bin/corral".into(),
        user: None,
    }
}

/// The values of `key=` lines.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn paths_under_var_log_and_run_are_made_by_systemd() {
    let (_dir, eco) = eco(r#"
        [supervisor]
        log_dir = "/var/log/corral"
        control_socket = "/run/corral/corral.sock"
        [[apps]]
        name = "api"
        command = "/srv/api/bin/api"
        kill_timeout = "30s"
        [[apps]]
        name = "jobs"
        command = "jobs"
        "#);
    let unit = render(&eco, Some("production"), &root()).expect("renders");
    let text = &unit.text;
    assert_eq!(values(text, "LogsDirectory"), ["corral"]);
    assert_eq!(values(text, "RuntimeDirectory"), ["corral"]);
    assert_eq!(values(text, "RuntimeDirectoryMode"), ["0700"]);
    assert!(values(text, "ReadWritePaths").is_empty());
    assert!(unit.read_write.is_empty());
    assert_eq!(values(text, "TimeoutStopSec"), ["40s"], "30s + 10s");
    assert!(text.contains("(kill_timeout 30s of api)"), "{text}");
    assert!(values(text, "User").is_empty(), "root runs as root");
    let file = eco.path.display();
    assert_eq!(
        values(text, "ExecStart"),
        [format!("/usr/local/bin/corral run {file} --env production")]
    );
    assert_eq!(
        values(text, "ExecReload"),
        ["/usr/local/bin/corral reload all --socket /run/corral/corral.sock"]
    );
    assert_eq!(
        values(text, "WorkingDirectory"),
        [eco.base_dir.display().to_string()]
    );
    // The file itself is in a temp dir under /tmp.
    assert_eq!(values(text, "PrivateTmp"), ["no"]);
    assert_eq!(values(text, "ProtectHome"), ["yes"]);
}

#[test]
fn a_user_gets_user_group_and_read_write_paths_next_to_the_file() {
    let (_dir, eco) = eco("[[apps]]\nname = \"api\"\ncommand = \"api\"\n");
    let host = Host {
        corral: "/home/alice/.cargo/bin/corral".into(),
        user: Some(("alice".into(), "staff".into())),
    };
    let unit = render(&eco, None, &host).expect("renders");
    let base = &eco.base_dir;
    let logs = base.join("logs");
    let run = base.join("run");
    assert_eq!(values(&unit.text, "User"), ["alice"]);
    assert_eq!(values(&unit.text, "Group"), ["staff"]);
    assert_eq!(
        values(&unit.text, "ReadWritePaths"),
        [format!("{} {}", logs.display(), run.display())]
    );
    assert_eq!(unit.read_write, [logs, run]);
    assert_eq!(values(&unit.text, "TimeoutStopSec"), ["20s"], "the floor");
    assert_eq!(
        values(&unit.text, "ProtectHome"),
        ["read-only"],
        "the binary is in a home folder"
    );
}

#[test]
fn a_log_file_outside_log_dir_is_writable_too_and_nested_folders_once() {
    let (_dir, eco) = eco(r#"
        [supervisor]
        log_dir = "/srv/logs"
        control_socket = "/srv/logs/run/corral.sock"
        [[apps]]
        name = "api"
        command = "api"
        [apps.logs]
        out = "/data/api/out.log"
        "#);
    let unit = render(&eco, None, &root()).expect("renders");
    assert_eq!(
        values(&unit.text, "ReadWritePaths"),
        ["/data/api /srv/logs"]
    );
}

#[test]
fn percent_and_dollar_are_escaped_and_spaces_refused() {
    let (_dir, eco) = eco("[[apps]]\nname = \"api\"\ncommand = \"api\"\n");
    let host = Host {
        corral: "/opt/100%/$corral".into(),
        user: None,
    };
    let unit = render(&eco, None, &host).expect("renders");
    assert!(values(&unit.text, "ExecStart")[0].starts_with("/opt/100%%/$$corral run "));
    let spaced = Host {
        corral: "/opt/my corral/corral".into(),
        user: None,
    };
    let err = render(&eco, None, &spaced).expect_err("a space is refused");
    assert!(
        err.to_string()
            .starts_with("/opt/my corral/corral cannot go into a systemd unit")
    );
}

/// The generated unit keeps every setting of the shipped one, but for
/// those it deliberately replaces: a hardening line added to
/// systemd/corral.service must be added here too.
#[test]
fn every_setting_of_the_shipped_unit_is_kept() {
    const REPLACED: [&str; 8] = [
        "Documentation",
        "Requires",
        "Sockets",
        "LogsDirectory",
        "LogsDirectoryMode",
        "RuntimeDirectory",
        "RuntimeDirectoryMode",
        "Also",
    ];
    let shipped = include_str!("../../../systemd/corral.service");
    let (_dir, eco) = eco("[[apps]]\nname = \"api\"\ncommand = \"api\"\n");
    let unit = render(&eco, None, &root()).expect("renders");
    for line in shipped.lines().filter(|l| !l.starts_with('#')) {
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        if !REPLACED.contains(&key) {
            assert!(
                !values(&unit.text, key).is_empty(),
                "{key}= of systemd/corral.service is missing from the generated unit"
            );
        }
    }
}

#[test]
fn the_stop_bound_covers_the_shutdown_delay_too() {
    let (_dir, eco) = eco(r#"
        [supervisor]
        shutdown_delay = "15s"
        [[apps]]
        name = "api"
        command = "api"
        kill_timeout = "30s"
        "#);
    let unit = render(&eco, None, &root()).expect("renders");
    assert_eq!(
        values(&unit.text, "TimeoutStopSec"),
        ["55s"],
        "15s + 30s + 10s"
    );
    assert!(
        unit.text
            .contains("(shutdown_delay 15s + kill_timeout 30s of api)"),
        "{}",
        unit.text
    );
}
