//! Files that are refused, and the exact line a person reads.

use super::{File, error, error_env};

const APP: &str = "[[apps]]\nname = \"api\"\ncommand = \"app\"\n";

/// `APP` plus one line; the error is then on line 4.
fn with(line: &str) -> String {
    error(&format!("{APP}{line}\n"))
}

#[test]
fn syntax_error_uses_toml_message_and_position() {
    assert_eq!(
        error("[[apps]]\nname = \"api\n"),
        "ecosystem.toml:2:12: invalid basic string, expected `\"`"
    );
}

#[test]
fn unknown_app_key_suggests_the_close_one() {
    assert_eq!(
        with("max_memory_restar = \"1G\""),
        "ecosystem.toml:4:1: unknown key `max_memory_restar` in [[apps]], did you mean `max_memory_restart`?"
    );
}

#[test]
fn unknown_keys_at_every_level() {
    assert_eq!(
        error(&format!("app = 1\n{APP}")),
        "ecosystem.toml:1:1: unknown key `app` in the top-level table, did you mean `apps`?"
    );
    assert_eq!(
        error(&format!("[supervisor]\nlog_dri = \"x\"\n{APP}")),
        "ecosystem.toml:2:1: unknown key `log_dri` in [supervisor], did you mean `log_dir`?"
    );
    assert_eq!(
        with("health_check = { intervl = \"5s\" }"),
        "ecosystem.toml:4:18: unknown key `intervl` in health_check, did you mean `interval`?"
    );
    assert_eq!(
        with("logs = { zzz = 1 }"),
        "ecosystem.toml:4:10: unknown key `zzz` in logs; valid keys are out, error, format, max_size, retain, compress, rotate_interval"
    );
}

#[test]
fn wrong_types() {
    assert_eq!(
        with("listen_backlog = \"big\""),
        "ecosystem.toml:4:18: apps[0].listen_backlog: expected an integer, found a string"
    );
    assert_eq!(
        with("autorestart = \"yes\""),
        "ecosystem.toml:4:15: apps[0].autorestart: expected true or false, found a string"
    );
    assert_eq!(
        with("listen = \"0.0.0.0:3000\""),
        "ecosystem.toml:4:10: apps[0].listen: expected an array of strings, found a string"
    );
    assert_eq!(
        error("apps = 3\n"),
        "ecosystem.toml:1:8: apps: expected an array of tables, [[apps]], found an integer"
    );
    assert_eq!(
        with("[apps.env]\nA = { b = 1 }"),
        "ecosystem.toml:5:5: apps[0].env.A: expected a string, number or boolean, found a table"
    );
}

#[test]
fn bad_values_point_at_the_value() {
    assert_eq!(
        with("kill_timeout = \"5 parsecs\""),
        "ecosystem.toml:4:16: apps[0].kill_timeout: invalid duration \"5 parsecs\": unknown unit \"parsecs\"; use ms, s, m, h or d"
    );
    assert_eq!(
        with("kill_timeout = 5"),
        "ecosystem.toml:4:16: apps[0].kill_timeout: invalid duration 5: write a unit, e.g. \"5s\" or \"250ms\""
    );
    assert_eq!(
        with("min_uptime = \"-1s\""),
        "ecosystem.toml:4:14: apps[0].min_uptime: invalid duration \"-1s\": must not be negative"
    );
    assert_eq!(
        with("max_memory_restart = \"512X\""),
        "ecosystem.toml:4:22: apps[0].max_memory_restart: invalid size \"512X\": unknown unit \"X\"; use K, M, G or T (powers of 1024), e.g. \"512M\""
    );
    assert_eq!(
        with("max_memory_restart = \"-1M\""),
        "ecosystem.toml:4:22: apps[0].max_memory_restart: invalid size \"-1M\": must not be negative"
    );
    assert_eq!(
        with("instances = 0"),
        "ecosystem.toml:4:13: apps[0].instances: 0 runs nothing; use \"max\", a number of workers, or -k for all CPUs but k"
    );
    assert_eq!(
        with("instances = \"4\""),
        "ecosystem.toml:4:13: apps[0].instances: \"4\" is a string; use \"max\", a number of workers, or -k for all CPUs but k"
    );
    assert_eq!(
        with("listen_backlog = 0"),
        "ecosystem.toml:4:18: apps[0].listen_backlog: must be between 1 and 65535, got 0"
    );
    assert_eq!(
        with("kill_signal = \"SIGNOPE\""),
        "ecosystem.toml:4:15: apps[0].kill_signal: invalid signal \"SIGNOPE\": not a signal name; use e.g. \"SIGTERM\" or \"INT\""
    );
    assert_eq!(
        with("listen = [\"localhost:3000\"]"),
        "ecosystem.toml:4:11: apps[0].listen[0]: invalid address \"localhost:3000\": write an IP address and a port, e.g. \"0.0.0.0:3000\" or \"[::1]:3000\""
    );
    assert_eq!(
        with("log_date_format = \"%Q\""),
        "ecosystem.toml:4:19: apps[0].log_date_format: invalid strftime format \"%Q\": unknown or incomplete % specifier; e.g. \"%Y-%m-%d %H:%M:%S\" is valid"
    );
    assert_eq!(
        with("health_check = { path = \"health\" }"),
        "ecosystem.toml:4:25: apps[0].health_check.path: invalid path \"health\": must start with '/'"
    );
    assert_eq!(
        error("[[apps]]\nname = \"a b\"\ncommand = \"x\"\n"),
        "ecosystem.toml:2:8: apps[0].name: invalid app name \"a b\": use 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'"
    );
    assert_eq!(
        error("[[apps]]\nname = \"all\"\ncommand = \"x\"\n"),
        "ecosystem.toml:2:8: apps[0].name: invalid app name \"all\": `all` is reserved: `corral reload all` means every app"
    );
    assert_eq!(
        error("[[apps]]\nname = \"api.toml\"\ncommand = \"x\"\n"),
        "ecosystem.toml:2:8: apps[0].name: invalid app name \"api.toml\": a name ending in .toml would be taken for an ecosystem file by `corral start`"
    );
}

#[test]
fn zero_sizes_are_refused_however_written() {
    for zero in ["0", "\"0\"", "\"0M\"", "\"0 KiB\"", "0x0"] {
        assert_eq!(
            with(&format!("max_memory_restart = {zero}")),
            "ecosystem.toml:4:22: apps[0].max_memory_restart: must be at least 1 byte",
            "{zero}"
        );
        assert_eq!(
            with(&format!("logs = {{ max_size = {zero} }}")),
            "ecosystem.toml:4:21: apps[0].logs.max_size: must be at least 1 byte",
            "{zero}"
        );
    }
    assert_eq!(
        with("max_memory_restart = -1"),
        "ecosystem.toml:4:22: apps[0].max_memory_restart: invalid size -1: must not be negative"
    );
}

#[test]
fn integers_out_of_bounds_say_the_rule_in_words() {
    for (line, message) in [
        (
            "listen_backlog = 70000",
            "4:18: apps[0].listen_backlog: must be between 1 and 65535, got 70000",
        ),
        (
            "listen_backlog = -99999999999999999999",
            "4:18: apps[0].listen_backlog: must be between 1 and 65535, got -99999999999999999999",
        ),
        (
            "max_restarts = -1",
            "4:16: apps[0].max_restarts: must not be negative, got -1",
        ),
        (
            "max_restarts = 4294967296",
            "4:16: apps[0].max_restarts: must be at most 4294967295, got 4294967296",
        ),
        (
            "health_check = { failures = 0 }",
            "4:29: apps[0].health_check.failures: must be at least 1, got 0",
        ),
        (
            "logs = { retain = 99999999999999999999 }",
            "4:19: apps[0].logs.retain: must be at most 4294967295, got 99999999999999999999",
        ),
        (
            "instances = 5_000_000_000",
            "4:13: apps[0].instances: must be at most 4294967295, got 5_000_000_000",
        ),
    ] {
        assert_eq!(with(line), format!("ecosystem.toml:{message}"));
    }
}

#[test]
fn calendar_duration_units_are_refused_with_a_hint() {
    assert_eq!(
        with("min_uptime = \"1M\""),
        "ecosystem.toml:4:14: apps[0].min_uptime: invalid duration \"1M\": use ms, s, m, h or d"
    );
    assert_eq!(
        with("kill_timeout = \"1 year\""),
        "ecosystem.toml:4:16: apps[0].kill_timeout: invalid duration \"1 year\": use ms, s, m, h or d"
    );
    assert_eq!(
        with("health_check = { interval = \"2months\" }"),
        "ecosystem.toml:4:29: apps[0].health_check.interval: invalid duration \"2months\": use ms, s, m, h or d"
    );
}

#[test]
fn duplicate_app_name_points_at_the_second() {
    assert_eq!(
        error(&format!("{APP}\n{APP}")),
        "ecosystem.toml:6:8: apps[1].name: duplicate app name \"api\", first used on line 2"
    );
}

#[test]
fn two_apps_cannot_share_a_listen_address() {
    let first = "[[apps]]\nname = \"a\"\ncommand = \"x\"\nlisten = [\"127.0.0.1:3000\"]\n";
    let second = "[[apps]]\nname = \"b\"\ncommand = \"x\"\nlisten = [\"127.0.0.1:3000\"]\n";
    assert_eq!(
        error(&format!("{first}{second}")),
        "ecosystem.toml:8:10: apps[1].listen: 127.0.0.1:3000 is already the listen address of app \"a\"; two apps cannot share one socket"
    );
}

#[test]
fn missing_required_key_points_at_the_table_header() {
    assert_eq!(
        error(&format!("{APP}\n[[apps]]\nname = \"b\"\n")),
        "ecosystem.toml:5:1: apps[1]: missing required key `command`"
    );
}

#[test]
fn no_apps() {
    assert_eq!(
        error("[supervisor]\n"),
        "ecosystem.toml: no [[apps]] table; define at least one app"
    );
}

#[test]
fn env_that_selects_nothing() {
    assert_eq!(
        error_env(APP, Some("staging")),
        "ecosystem.toml: no app has [apps.env_staging]; --env staging selects nothing"
    );
}

#[test]
fn unreadable_file() {
    let file = File::new(APP);
    let missing = file.dir.path().join("nope.toml");
    let error = crate::config::load(&missing, None).expect_err("missing file");
    let folder = format!("{}/", file.dir.path().display());
    assert_eq!(
        error.to_string().replace(&folder, ""),
        "cannot read nope.toml: No such file or directory"
    );
}

#[test]
fn timers_that_would_fire_at_once_are_refused() {
    for (line, message) in [
        (
            "watchdog = \"0s\"",
            "4:12: apps[0].watchdog: must be longer than 0",
        ),
        (
            "memory_check_interval = \"0ms\"",
            "4:25: apps[0].memory_check_interval: must be longer than 0",
        ),
        (
            "health_check = { interval = \"0s\" }",
            "4:29: apps[0].health_check.interval: must be longer than 0",
        ),
        (
            "listen_timeout = \"0s\"",
            "4:18: apps[0].listen_timeout: must be longer than 0",
        ),
        (
            "memory_check_samples = 0",
            "4:24: apps[0].memory_check_samples: must be at least 1, got 0",
        ),
    ] {
        assert_eq!(with(line), format!("ecosystem.toml:{message}"));
    }
}
