//! Files that load, and what they load to.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::{File, parse, parse_env};
use crate::config::{Instances, RotateInterval, render};

/// The example of SUPERVISOR.md, verbatim.
const EXAMPLE: &str = r#"
[supervisor]
log_dir = "logs"                    # ["logs", relative to this file]
control_socket = "run/corral.sock"  # [see CLI]; created 0600, its folder 0700
admin_listen = "127.0.0.1:9615"     # [off] read-only /health /metrics /status for monitoring

[[apps]]
name = "api"
command = "target/release/app"      # or "python3", with args
args = []
cwd = "."
instances = "max"                   # [1]; "max" = CPUs this process may use (affinity and cgroup
                                    # cpu.max, not the host's count), a number, or -1 = max-1
listen = ["0.0.0.0:3000"]           # sockets the supervisor binds once and every worker shares
listen_backlog = 1024
user = "www-data"                   # [the supervisor's user] drop to this user/group in the worker
kill_signal = "SIGTERM"
kill_timeout = "5s"                 # [1.6s in PM2; 5s here]: then SIGKILL to the worker's process group
wait_ready = true                   # [false]: a worker is online after READY=1, else after spawn + health
listen_timeout = "8s"               # [3s]: how long a new worker may take to become ready
autorestart = true
min_uptime = "1s"                   # a worker that dies sooner counts as an unstable restart
max_restarts = 16                   # unstable restarts in a row before the app is `errored`
restart_delay = "0ms"
exp_backoff_restart_delay = "100ms" # doubles per unstable restart, capped at 15s, reset after min_uptime
max_memory_restart = "512M"         # PSS of the worker's whole process tree; replaced gracefully
memory_check_interval = "1s"        # over the limit on 3 samples in a row, not one
health_check = { path = "/health", interval = "5s", timeout = "2s", grace_period = "3s", failures = 3 }
watchdog = "10s"                    # [off] WATCHDOG_USEC for the worker; no WATCHDOG=1 in time -> replaced
log_date_format = "%Y-%m-%dT%H:%M:%S%.3f%:z"
logs = { out = "api-out.log", error = "api-error.log", max_size = "10M", retain = 30, compress = true, rotate_interval = "daily" }

[apps.env]
RUST_LOG = "info"
[apps.env_production]               # selected by `corral run --env production`
RUST_LOG = "warn"
"#;

const MINIMAL: &str = "[[apps]]\nname = \"web\"\ncommand = \"python3\"\n";

#[test]
fn the_documented_example_loads_as_shown() {
    let file = File::new(EXAMPLE);
    let eco = file.load(None).unwrap_or_else(|e| panic!("{e}"));
    let base = file.dir.path();
    assert_eq!(eco.base_dir, base);
    assert_eq!(eco.supervisor.log_dir, base.join("logs"));
    assert_eq!(eco.supervisor.control_socket, base.join("run/corral.sock"));
    assert_eq!(
        eco.supervisor.admin_listen,
        Some("127.0.0.1:9615".parse().unwrap())
    );
    let [app] = &eco.apps[..] else {
        panic!("one app expected")
    };
    assert_eq!(
        (app.name.as_str(), app.command.as_str()),
        ("api", "target/release/app")
    );
    assert_eq!(app.instances, Instances::Max);
    assert_eq!(app.listen, vec!["0.0.0.0:3000".parse().unwrap()]);
    assert_eq!(app.user.as_deref(), Some("www-data"));
    assert_eq!(app.kill_signal, Signal::SIGTERM);
    assert!(app.wait_ready);
    assert_eq!(app.listen_timeout, Duration::from_secs(8));
    assert_eq!(
        app.exp_backoff_restart_delay,
        Some(Duration::from_millis(100))
    );
    assert_eq!(app.max_memory_restart, Some(512 * 1024 * 1024));
    assert_eq!(app.watchdog, Some(Duration::from_secs(10)));
    let health = app.health_check.as_ref().expect("health_check");
    assert_eq!((health.path.as_str(), health.failures), ("/health", 3));
    assert_eq!(health.timeout, Duration::from_secs(2));
    assert_eq!(app.logs.rotation.max_size, Some(10 * 1024 * 1024));
    assert!(app.logs.rotation.compress);
    assert_eq!(app.logs.rotation.interval, Some(RotateInterval::Daily));
    assert_eq!(app.env["RUST_LOG"], "info");
}

#[test]
fn defaults_fill_every_optional_key() {
    let file = File::new(MINIMAL);
    let eco = file.load(None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(eco.supervisor.log_dir, file.dir.path().join("logs"));
    assert_eq!(eco.supervisor.admin_listen, None);
    assert_eq!(eco.supervisor.shutdown_delay, Duration::ZERO);
    let app = &eco.apps[0];
    // Not `<dir>/.`: the path is shown as it is compared.
    assert_eq!(app.cwd.as_os_str(), file.dir.path().as_os_str());
    assert_eq!(app.instances, Instances::Count(1));
    assert!(app.args.is_empty() && app.listen.is_empty() && app.env.is_empty());
    assert_eq!(app.listen_backlog, 1024);
    assert_eq!((app.user.clone(), app.group.clone()), (None, None));
    assert_eq!(app.kill_signal, Signal::SIGTERM);
    assert_eq!(app.kill_timeout, Duration::from_secs(5));
    assert_eq!(app.listen_timeout, Duration::from_secs(3));
    assert!(!app.wait_ready && app.autorestart);
    assert_eq!(app.min_uptime, Duration::from_secs(1));
    assert_eq!(app.max_restarts, 16);
    assert_eq!(app.restart_delay, Duration::ZERO);
    assert_eq!(
        app.exp_backoff_restart_delay,
        Some(Duration::from_millis(100))
    );
    assert_eq!(app.max_memory_restart, None);
    assert_eq!(app.memory_check_interval, Duration::from_secs(1));
    assert_eq!(app.memory_check_samples, 3);
    assert_eq!(app.health_check, None);
    assert_eq!(app.watchdog, None);
    assert_eq!(app.log_date_format, "%Y-%m-%dT%H:%M:%S%.3f%:z");
    assert_eq!(
        (app.logs.out.as_str(), app.logs.error.as_str()),
        ("web-out.log", "web-error.log")
    );
    assert_eq!(
        (
            app.logs.rotation.max_size,
            app.logs.rotation.retain,
            app.logs.rotation.compress
        ),
        (None, 30, false)
    );
    assert_eq!(app.logs.rotation.interval, None);
}

#[test]
fn partial_health_check_gets_defaults() {
    let eco = parse(&format!("{MINIMAL}health_check = {{ failures = 1 }}\n"));
    let health = eco.apps[0].health_check.clone().expect("health_check");
    assert_eq!((health.path.as_str(), health.failures), ("/health", 1));
    assert_eq!(health.interval, Duration::from_secs(5));
    assert_eq!(health.grace_period, Duration::from_secs(3));
}

#[test]
fn env_overlay_replaces_and_adds() {
    let text = format!(
        "{MINIMAL}[apps.env]\nA = \"1\"\nB = 2\n[apps.env_staging]\nB = true\nC = 1.5\n\
         [apps.env_production]\nA = \"prod\"\n"
    );
    let plain = parse(&text).apps[0].env.clone();
    assert_eq!(
        plain.into_iter().collect::<Vec<_>>(),
        [("A".into(), "1".into()), ("B".into(), "2".into())]
    );
    let staging = parse_env(&text, Some("staging")).apps[0].env.clone();
    let staging: Vec<(&str, &str)> = staging
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(staging, [("A", "1"), ("B", "true"), ("C", "1.5")]);
}

#[test]
fn instances_forms() {
    let with = |v: &str| parse(&format!("{MINIMAL}instances = {v}\n")).apps[0].instances;
    assert_eq!(with("\"max\""), Instances::Max);
    assert_eq!(with("4"), Instances::Count(4));
    assert_eq!(with("-1"), Instances::Relative(1));
}

#[test]
fn instances_resolve_never_to_zero() {
    assert_eq!(Instances::Max.resolve(8), 8);
    assert_eq!(Instances::Max.resolve(0), 1);
    assert_eq!(Instances::Relative(1).resolve(8), 7);
    assert_eq!(Instances::Relative(3).resolve(2), 1);
    assert_eq!(Instances::Count(5).resolve(2), 5);
}

#[test]
fn signal_spellings() {
    let with = |v: &str| parse(&format!("{MINIMAL}kill_signal = \"{v}\"\n")).apps[0].kill_signal;
    assert_eq!(with("SIGINT"), Signal::SIGINT);
    assert_eq!(with("INT"), Signal::SIGINT);
    assert_eq!(with("sigquit"), Signal::SIGQUIT);
}

#[test]
fn render_fills_defaults_resolves_instances_and_masks_secrets() {
    let text = format!(
        "{MINIMAL}instances = -1\n[apps.env]\nDB_PASSWORD = \"hunter2\"\napi_key = \"k\"\nMODE = \"x\"\n"
    );
    let rendered = render(&parse(&text), 8);
    assert!(
        rendered.contains("instances = 7 # -1 (max-1) on this machine\n"),
        "{rendered}"
    );
    assert!(rendered.contains("kill_timeout = \"5s\"\n"), "{rendered}");
    assert!(rendered.contains("restart_delay = \"0ms\"\n"), "{rendered}");
    assert!(
        rendered.contains("# max_memory_restart: off\n"),
        "{rendered}"
    );
    assert!(rendered.contains("DB_PASSWORD = \"***\"\n"), "{rendered}");
    assert!(rendered.contains("api_key = \"***\"\n"), "{rendered}");
    assert!(rendered.contains("MODE = \"x\"\n"), "{rendered}");
    assert!(!rendered.contains("hunter2"));
    let max = render(&parse(&format!("{MINIMAL}instances = \"max\"\n")), 4);
    assert!(
        max.contains("instances = 4 # \"max\" on this machine\n"),
        "{max}"
    );
}

#[test]
fn resolved_paths_drop_dot_components_but_keep_dot_dot() {
    let text = format!(
        "[supervisor]\nlog_dir = \"./logs/./app/\"\ncontrol_socket = \"/run/./corral//c.sock\"\n\
         {MINIMAL}cwd = \"../shared/.\"\n"
    );
    let file = File::new(&text);
    let eco = file.load(None).unwrap_or_else(|e| panic!("{e}"));
    let base = file.dir.path().display().to_string();
    let shown = |path: &std::path::Path| path.display().to_string();
    assert_eq!(shown(&eco.supervisor.log_dir), format!("{base}/logs/app"));
    assert_eq!(shown(&eco.supervisor.control_socket), "/run/corral/c.sock");
    assert_eq!(shown(&eco.apps[0].cwd), format!("{base}/../shared"));
    let rendered = render(&eco, 1);
    assert!(
        rendered.contains(&format!("cwd = \"{base}/../shared\"\n")),
        "{rendered}"
    );
    let plain = render(&parse(MINIMAL), 1);
    assert!(!plain.contains("/.\""), "{plain}");
}

#[test]
fn lower_case_m_is_minutes() {
    let eco = parse(&format!(
        "{MINIMAL}min_uptime = \"1m\"\nkill_timeout = \"1w\"\n"
    ));
    assert_eq!(eco.apps[0].min_uptime, Duration::from_secs(60));
    assert_eq!(eco.apps[0].kill_timeout, Duration::from_secs(7 * 86_400));
}

#[test]
fn render_masks_passwords_in_url_values() {
    let text = format!(
        "{MINIMAL}[apps.env]\nDATABASE_URL = \"postgres://api:hunter2@db:5432/api\"\n\
         CACHE = \"redis://cache:6379\"\n"
    );
    let rendered = render(&parse(&text), 1);
    assert!(
        rendered.contains("DATABASE_URL = \"postgres://api:***@db:5432/api\"\n"),
        "{rendered}"
    );
    assert!(
        rendered.contains("CACHE = \"redis://cache:6379\"\n"),
        "{rendered}"
    );
    assert!(!rendered.contains("hunter2"), "{rendered}");
}

#[test]
fn rendered_config_loads_back_to_the_same_config() {
    let eco = parse_env(&EXAMPLE.replace("\"max\"", "3"), Some("production"));
    let again = parse(&render(&eco, 8));
    assert_eq!(again.supervisor, eco.supervisor);
    assert_eq!(again.apps, eco.apps);
}

#[test]
fn zero_backoff_turns_the_backoff_off_and_renders_back_the_same() {
    let eco = parse(&format!("{MINIMAL}exp_backoff_restart_delay = \"0ms\"\n"));
    assert_eq!(eco.apps[0].exp_backoff_restart_delay, None);
    let rendered = render(&eco, 1);
    assert!(
        rendered.contains("exp_backoff_restart_delay = \"0ms\" # off\n"),
        "{rendered}"
    );
}

#[test]
fn admin_listen_and_shutdown_delay_render_back_as_written() {
    let text = format!(
        "[supervisor]\nadmin_listen = \"127.0.0.1:9615\"\nshutdown_delay = \"1500ms\"\n{MINIMAL}"
    );
    let eco = parse(&text);
    assert_eq!(eco.supervisor.shutdown_delay, Duration::from_millis(1500));
    let rendered = render(&eco, 1);
    assert!(
        rendered.contains("admin_listen = \"127.0.0.1:9615\"\nshutdown_delay = \"1s500ms\"\n"),
        "{rendered}"
    );
    assert!(!rendered.contains("not enforced"), "{rendered}");
    let again = parse(&rendered);
    assert_eq!(again.supervisor, eco.supervisor);
    let defaults = render(&parse(MINIMAL), 1);
    assert!(
        defaults.contains("# admin_listen: off\nshutdown_delay = \"0ms\"\n"),
        "{defaults}"
    );
}
