//! Where the workers' cgroups go, decided once at start-up from the
//! operator's setting and what [`super::setup`] found out.
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

use std::path::{Path, PathBuf};

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
