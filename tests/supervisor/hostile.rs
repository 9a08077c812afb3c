//! The supervisor against a hostile neighbour on the same machine: the
//! files it keeps are private even under a permissive umask, and a secret
//! in an app's environment shows in none of its outputs (the CLI's,
//! the admin listener's, its own log), before or after a reload that
//! changes it, nor in the errors of a reload refused on its line. (Another user's client is refused by
//! `control::a_client_of_another_user_is_refused_and_logged`.)

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;

use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, umask};

use crate::helper::{Corral, send};

const FIRST: &str = "s3cr3t-planted-first";
const SECOND: &str = "s3cr3t-planted-second";
const PASSWORD: &str = "pl4nted-db-password";

/// One app with a planted API key and a database password in its env.
fn config(secret: &str) -> String {
    format!(
        r#"
[supervisor]
admin_listen = "127.0.0.1:0"

[[apps]]
name = "api"
command = "{{worker}}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
[apps.env]
API_KEY = "{secret}"
DATABASE_URL = "postgres://api:{PASSWORD}@db/api"
"#
    )
}

/// Starts corral with umask 000, so only its own choices make files
/// private.
fn start_permissive(config: &str) -> Corral {
    Corral::start_with(config, |command| {
        // SAFETY: umask is async-signal-safe and allocates nothing.
        unsafe {
            command.pre_exec(|| {
                umask(Mode::empty());
                Ok(())
            });
        }
    })
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_control_folder_socket_and_lock_are_private_under_umask_000() {
    let mut corral = start_permissive(&config(FIRST));
    corral.wait_online();
    let socket = corral.socket();
    let files = [
        (socket.parent().expect("a folder").to_path_buf(), 0o700),
        (socket, 0o600),
        (corral.dir().join("logs").join(".corral.lock"), 0o600),
    ];
    for (path, wanted) in files {
        assert_eq!(
            format!("{:o}", mode(&path)),
            format!("{wanted:o}"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_planted_secret_appears_in_no_output_even_across_a_reload() {
    let mut corral = start_permissive(&config(FIRST));
    corral.wait_online();
    let bound = corral.events("admin listening")[0]["bound"]
        .as_str()
        .expect("a bound address")
        .to_owned();
    let admin: SocketAddr = bound.parse().expect("an address");
    let outputs = |corral: &Corral| {
        let mut all: Vec<String> = [
            vec!["status"],
            vec!["status", "--json"],
            vec!["describe", "api"],
            vec!["describe", "api", "--json"],
        ]
        .iter()
        .map(|args| corral.cli_ok(args))
        .collect();
        for path in ["/metrics", "/status", "/health"] {
            let response = send(admin, "GET", path).expect("the admin listener");
            assert_eq!(response.status, 200, "{path}: {response:?}");
            all.push(response.body);
        }
        all
    };
    let mut seen = outputs(&corral);
    assert!(
        seen[2].contains("API_KEY = \"***\""),
        "describe shows the key masked: {}",
        seen[2]
    );
    corral.write_config(&config(SECOND));
    corral.cli_ok(&["reload", "api"]);
    seen.extend(outputs(&corral));
    // A reload refused for a mistake on the secret's own line, and one for
    // a secret of the wrong type: the errors point at the place only.
    let broken = config(SECOND);
    for line in [
        format!("API_KEY = \"{FIRST}\" junk"),
        format!("API_KEY = [\"{FIRST}\"]"),
    ] {
        corral.write_config(&broken.replace(&format!("API_KEY = \"{SECOND}\""), &line));
        let refused = corral.cli(&["reload", "api"]);
        assert_ne!(refused.code, 0, "{refused:?}");
        assert!(refused.stderr.contains("ecosystem.toml:"), "{refused:?}");
        seen.extend([refused.stdout, refused.stderr]);
    }
    corral.signal(Signal::SIGTERM);
    corral.wait_exit(std::time::Duration::from_secs(20));
    let logged = corral
        .all_events()
        .iter()
        .map(ToString::to_string)
        .chain(corral.plain_lines().iter().cloned());
    let everything: Vec<String> = seen.into_iter().chain(logged).collect();
    assert!(everything.len() > 20, "{everything:?}");
    for text in &everything {
        for secret in [FIRST, SECOND, PASSWORD] {
            assert!(!text.contains(secret), "{secret} leaked in: {text}");
        }
    }
}
