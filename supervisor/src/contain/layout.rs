//! Where the workers' cgroups go, decided once at start-up.
//!
//! Both layouts give corral one directory of its own (`base`) holding one
//! cgroup per worker:
//!
//! - **Delegated** (systemd's `Delegate=yes`, which it marks with the
//!   `trusted.delegate` or `user.delegate` xattr): the supervisor moves
//!   itself into `<own>/supervisor` and workers go to `<own>/workers/`.
//!   systemd's rule for delegated cgroups is that processes live only in
//!   leaves: it runs `ExecReload=` in `<own>/.control`, and a cgroup with
//!   controllers enabled for its children may hold no process itself.
//! - **Nested** (no systemd, our own cgroup writable, e.g. a container with
//!   a private cgroup namespace, or a bare host): workers go to
//!   `<own>/corral-<pid>/`; the supervisor stays where it is.
//!
//! Under systemd without delegation the tree is systemd's and corral
//! creates nothing in it (systemd's delegation rules forbid it).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cgroup;

/// The environment variable that lets an operator turn cgroups off.
pub const SETTING_VAR: &str = "CORRAL_CGROUPS";

/// Whether corral may use cgroups (`CORRAL_CGROUPS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Use a cgroup per worker when the environment allows it (the default).
    Auto,
    /// Never create cgroups: process groups and the guard only.
    Off,
}

impl Setting {
    /// Reads `CORRAL_CGROUPS`; unset means [`Setting::Auto`].
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(SETTING_VAR) {
            Ok(value) => Self::parse(&value),
            Err(_) => Ok(Self::Auto),
        }
    }

    fn parse(value: &str) -> Result<Self, String> {
        match value.trim() {
            "" | "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "{SETTING_VAR}={other:?} is not understood: use `auto` (the default) or `off`"
            )),
        }
    }
}

/// What start-up learned about this process's place in the cgroup tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The directory of our own cgroup in a mounted v2 hierarchy.
    pub own: Option<PathBuf>,
    /// systemd marked our cgroup as delegated to us.
    pub delegated: bool,
    /// systemd is the service manager (`/run/systemd/system` exists).
    pub systemd: bool,
}

/// Where the workers' cgroups go, before anything is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Move the supervisor to `own/supervisor`; workers under `own/workers`.
    Delegated {
        /// The cgroup systemd delegated.
        own: PathBuf,
    },
    /// Workers under `base`, a new child of our own cgroup.
    Nested {
        /// `<own>/corral-<pid>`.
        base: PathBuf,
    },
    /// No cgroups, for the reason given.
    Off(String),
}

/// Decides the layout from the operator's setting and the facts; pure, so
/// every environment is unit-tested.
pub fn plan(setting: Setting, facts: &Facts, pid: u32) -> Plan {
    if setting == Setting::Off {
        return Plan::Off(format!("turned off by {SETTING_VAR}=off"));
    }
    let Some(own) = &facts.own else {
        return Plan::Off("no cgroup v2 hierarchy is mounted where corral can see it".into());
    };
    if facts.delegated {
        Plan::Delegated { own: own.clone() }
    } else if facts.systemd {
        Plan::Off(format!(
            "{} belongs to systemd and is not delegated to corral (add Delegate=yes to the unit)",
            own.display()
        ))
    } else {
        Plan::Nested {
            base: own.join(format!("corral-{pid}")),
        }
    }
}

/// The path of this process's cgroup in the v2 hierarchy: the `0::PATH`
/// line of `/proc/self/cgroup`. A path outside our cgroup namespace
/// (`/..`) cannot be reached and counts as none.
pub fn v2_path(proc_self_cgroup: &str) -> Option<&str> {
    proc_self_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .filter(|path| path.starts_with('/') && !path.starts_with("/.."))
}

/// The path of this process's cgroup in systemd's own v1 hierarchy
/// (`name=systemd`), where hybrid-mode systemd marks delegation.
pub fn systemd_v1_path(proc_self_cgroup: &str) -> Option<&str> {
    proc_self_cgroup.lines().find_map(|line| {
        let (_, rest) = line.split_once(':')?;
        rest.strip_prefix("name=systemd:")
    })
}

/// The directory of cgroup `path` in a hierarchy mounted at `mount_point`
/// whose mount shows the subtree `mount_root` (`/` unless bind-mounted).
pub fn dir_of(mount_point: &Path, mount_root: &str, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path).strip_prefix(mount_root).ok()?;
    Some(mount_point.join(rel))
}

/// Whether systemd marked `dir` as delegated (`trusted.delegate` or, for
/// unprivileged managers, `user.delegate` set to `1`).
pub fn is_delegated(dir: &Path) -> bool {
    ["trusted.delegate", "user.delegate"].iter().any(|name| {
        let mut value = [0u8; 8];
        rustix::fs::getxattr(dir, *name, &mut value).is_ok_and(|len| value[..len] == *b"1")
    })
}

/// What start-up finds out about this process's cgroup.
pub fn discover() -> Facts {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mounts = procfs::process::Process::myself()
        .and_then(|me| me.mountinfo())
        .map(|m| m.0)
        .unwrap_or_default();
    let find = |path: &str, is_mount: &dyn Fn(&procfs::process::MountInfo) -> bool| {
        mounts
            .iter()
            .filter(|m| is_mount(m))
            .find_map(|m| dir_of(&m.mount_point, &m.root, path))
            .filter(|dir| dir.is_dir())
    };
    let own = v2_path(&text).and_then(|path| find(path, &|m| m.fs_type == "cgroup2"));
    let systemd_v1 = systemd_v1_path(&text).and_then(|path| {
        find(path, &|m| {
            m.fs_type == "cgroup"
                && m.super_options.get("name") == Some(&Some("systemd".to_owned()))
        })
    });
    let delegated =
        own.as_deref().is_some_and(is_delegated) || systemd_v1.as_deref().is_some_and(is_delegated);
    Facts {
        own,
        delegated,
        systemd: Path::new("/run/systemd/system").is_dir(),
    }
}

/// The cgroups corral set up: `base` holds one cgroup per worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The directory corral owns and removes when it stops.
    pub base: PathBuf,
    /// How corral came by it, for the start-up log.
    pub origin: &'static str,
}

/// How long start-up waits for processes left in a stale `base` to die.
const STALE_BOUND: Duration = Duration::from_secs(5);

/// Carries out `plan`; `Err` says why cgroups cannot be used after all.
pub fn apply(plan: Plan) -> Result<Layout, String> {
    match plan {
        Plan::Off(reason) => Err(reason),
        Plan::Delegated { own } => {
            let home = own.join("supervisor");
            match cgroup::create(&home) {
                Err(err) if err.kind() != ErrorKind::AlreadyExists => {
                    return Err(format!("cannot create {}: {err}", home.display()));
                }
                _ => {}
            }
            cgroup::join(&home).map_err(|err| {
                format!("cannot move the supervisor into {}: {err}", home.display())
            })?;
            make_base(own.join("workers"), "delegated by systemd")
        }
        Plan::Nested { base } => make_base(base, "created in corral's own cgroup"),
    }
}

/// Creates `base`, first removing a stale one (left by an earlier corral
/// with our pid whose guard could not finish), and checks `cgroup.kill`.
fn make_base(base: PathBuf, origin: &'static str) -> Result<Layout, String> {
    let cannot = |err: std::io::Error| format!("cannot create {}: {err}", base.display());
    match cgroup::create(&base) {
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            cgroup::remove_tree(&base, STALE_BOUND).map_err(cannot)?;
            cgroup::create(&base).map_err(cannot)?;
        }
        other => other.map_err(cannot)?,
    }
    if !cgroup::can_kill(&base) {
        let _ = fs::remove_dir(&base);
        return Err("the kernel has no cgroup.kill (Linux 5.14 or later is needed)".into());
    }
    Ok(Layout { base, origin })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/self/cgroup` of a service on a hybrid-mode host.
    const HYBRID: &str = "12:memory:/system.slice/corral.service\n\
        1:name=systemd:/system.slice/corral.service\n\
        0::/system.slice/corral.service\n";

    fn facts(own: Option<&str>, delegated: bool, systemd: bool) -> Facts {
        Facts {
            own: own.map(PathBuf::from),
            delegated,
            systemd,
        }
    }

    #[test]
    fn the_v2_path_is_the_line_with_hierarchy_zero() {
        assert_eq!(v2_path(HYBRID), Some("/system.slice/corral.service"));
        assert_eq!(v2_path("0::/\n"), Some("/"));
        assert_eq!(v2_path("4:memory:/x\n"), None, "cgroup v1 only");
        assert_eq!(
            v2_path("0::/../../user.slice\n"),
            None,
            "outside our namespace"
        );
    }

    #[test]
    fn the_systemd_v1_path_is_found_in_hybrid_mode() {
        assert_eq!(
            systemd_v1_path(HYBRID),
            Some("/system.slice/corral.service")
        );
        assert_eq!(systemd_v1_path("0::/\n"), None);
    }

    #[test]
    fn a_cgroup_path_maps_below_its_mount() {
        let mount = Path::new("/sys/fs/cgroup/unified");
        assert_eq!(
            dir_of(mount, "/", "/system.slice/a.service"),
            Some(PathBuf::from(
                "/sys/fs/cgroup/unified/system.slice/a.service"
            ))
        );
        assert_eq!(dir_of(mount, "/", "/"), Some(mount.to_path_buf()));
        assert_eq!(
            dir_of(
                Path::new("/sys/fs/cgroup"),
                "/docker/abc",
                "/docker/abc/app"
            ),
            Some(PathBuf::from("/sys/fs/cgroup/app")),
            "a bind mount of a subtree"
        );
        assert_eq!(dir_of(mount, "/docker/abc", "/other"), None);
    }

    #[test]
    fn a_delegated_cgroup_is_used_under_systemd_or_not() {
        for systemd in [true, false] {
            assert_eq!(
                plan(
                    Setting::Auto,
                    &facts(Some("/cg/corral.service"), true, systemd),
                    7
                ),
                Plan::Delegated {
                    own: PathBuf::from("/cg/corral.service")
                }
            );
        }
    }

    #[test]
    fn without_systemd_a_child_of_our_own_cgroup_is_used() {
        assert_eq!(
            plan(
                Setting::Auto,
                &facts(Some("/sys/fs/cgroup"), false, false),
                42
            ),
            Plan::Nested {
                base: PathBuf::from("/sys/fs/cgroup/corral-42")
            }
        );
    }

    #[test]
    fn systemds_tree_is_left_alone_without_delegation() {
        let plan = plan(
            Setting::Auto,
            &facts(Some("/cg/session-1.scope"), false, true),
            1,
        );
        assert!(
            matches!(&plan, Plan::Off(why) if why.contains("Delegate=yes")),
            "{plan:?}"
        );
    }

    #[test]
    fn no_v2_hierarchy_or_the_operator_turns_cgroups_off() {
        assert!(matches!(
            plan(Setting::Auto, &facts(None, false, false), 1),
            Plan::Off(_)
        ));
        let off = plan(Setting::Off, &facts(Some("/cg"), true, true), 1);
        assert!(
            matches!(&off, Plan::Off(why) if why.contains("CORRAL_CGROUPS=off")),
            "{off:?}"
        );
    }

    #[test]
    fn the_setting_accepts_auto_and_off_only() {
        assert_eq!(Setting::parse("off"), Ok(Setting::Off));
        assert_eq!(Setting::parse("auto"), Ok(Setting::Auto));
        assert_eq!(Setting::parse(""), Ok(Setting::Auto));
        let err = Setting::parse("no").unwrap_err();
        assert!(err.contains("CORRAL_CGROUPS=\"no\""), "{err}");
    }
}
