//! Whether a worker started late holds the same kinds of open files as the
//! first ones did: a worker inherits exactly stdio and its sockets, and
//! opens the rest itself (its runtime's epoll and eventfds, the database),
//! so a worker of the hundredth generation that holds anything more has
//! been handed a leaked fd.
//!
//! Two checks. What a worker shares with the supervisor (the same socket,
//! pipe or file open in both, see [`crate::procs::fd_targets`]) is what it
//! inherited, and past stdio that must be sockets only ([`shared_with`]).
//! Anonymous inodes (epoll, eventfd) carry no number to match, so they are
//! left out of that check. And a late worker holds the same kinds of files
//! as the first ones ([`compare_fds`]): lists compared as sets of targets,
//! fd numbers and inodes aside, since how many connections the SQLite pool
//! holds depends on the load; the first workers may differ from each other
//! (one of them hosts the SQLite writer), so a later worker must match one
//! of them.

use std::collections::BTreeSet;

use serde::Serialize;

/// How a worker's open files differ from the closest of the first workers'.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FdDifference {
    /// Targets it holds that the first worker did not.
    pub extra: BTreeSet<String>,
    /// Targets the first worker held that it does not.
    pub missing: BTreeSet<String>,
}

/// A target without its inode: `socket:[123]` is `socket`.
fn kind(target: &str) -> &str {
    match target.split_once(":[") {
        Some((kind, _)) if target.ends_with(']') => kind,
        _ => target,
    }
}

fn kinds(fds: &[(i32, String)]) -> BTreeSet<&str> {
    fds.iter().map(|(_, target)| kind(target)).collect()
}

/// The fds of a worker (past stdio) that are also open in the supervisor,
/// and so were handed down to it, with whether each is a socket.
pub fn shared_with(worker: &[(i32, String)], supervisor: &[(i32, String)]) -> Vec<(i32, String)> {
    let held: BTreeSet<&str> = supervisor.iter().map(|(_, t)| t.as_str()).collect();
    worker
        .iter()
        .filter(|(fd, target)| {
            *fd > 2 && !target.starts_with("anon_inode:") && held.contains(target.as_str())
        })
        .cloned()
        .collect()
}

/// Whether every inherited fd past stdio is a socket.
pub fn only_sockets(shared: &[(i32, String)]) -> bool {
    shared.iter().all(|(_, target)| kind(target) == "socket")
}

fn difference(reference: &[(i32, String)], fds: &[(i32, String)]) -> FdDifference {
    let (want, have) = (kinds(reference), kinds(fds));
    let beyond = |a: &BTreeSet<&str>, b: &BTreeSet<&str>| {
        a.difference(b).map(|target| (*target).to_owned()).collect()
    };
    FdDifference {
        extra: beyond(&have, &want),
        missing: beyond(&want, &have),
    }
}

/// `None` when `fds` holds what one of the `first` workers held; otherwise
/// how it differs from the closest of them.
pub fn compare_fds(first: &[Vec<(i32, String)>], fds: &[(i32, String)]) -> Option<FdDifference> {
    let differences = first.iter().map(|reference| difference(reference, fds));
    let closest = differences.min_by_key(|d| d.extra.len() + d.missing.len())?;
    (!closest.extra.is_empty() || !closest.missing.is_empty()).then_some(closest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fds(targets: &[&str]) -> Vec<(i32, String)> {
        targets
            .iter()
            .enumerate()
            .map(|(n, t)| (n as i32, (*t).to_owned()))
            .collect()
    }

    #[test]
    fn what_a_worker_shares_with_the_supervisor_past_stdio_is_inherited() {
        let supervisor = fds(&[
            "/dev/null",
            "pipe:[1]",
            "socket:[7]",
            "/srv/logs/api-out.log",
            "anon_inode:eventpoll",
        ]);
        let worker = fds(&[
            "/dev/null",
            "pipe:[1]",
            "pipe:[2]",
            "socket:[7]",
            "socket:[8]",
            "anon_inode:eventpoll",
        ]);
        let shared = shared_with(&worker, &supervisor);
        assert_eq!(shared, vec![(3, "socket:[7]".to_owned())]);
        assert!(only_sockets(&shared));
    }

    #[test]
    fn a_pipe_or_file_of_the_supervisor_in_a_worker_is_a_leak() {
        let supervisor = fds(&["/dev/null", "pipe:[1]", "pipe:[9]", "/srv/logs/api-out.log"]);
        let worker = fds(&[
            "/dev/null",
            "pipe:[1]",
            "pipe:[2]",
            "pipe:[9]",
            "/srv/logs/api-out.log",
        ]);
        let shared = shared_with(&worker, &supervisor);
        assert_eq!(shared.len(), 2);
        assert!(!only_sockets(&shared));
    }

    #[test]
    fn the_same_targets_under_other_numbers_and_inodes_match() {
        let first = [fds(&[
            "/dev/null",
            "pipe:[1]",
            "pipe:[2]",
            "socket:[3]",
            "socket:[4]",
        ])];
        let later = fds(&[
            "socket:[9]",
            "/dev/null",
            "pipe:[7]",
            "socket:[8]",
            "pipe:[6]",
        ]);
        assert_eq!(compare_fds(&first, &later), None);
    }

    #[test]
    fn a_later_worker_may_match_any_of_the_first_ones() {
        let first = [
            fds(&["pipe:[1]", "socket:[2]", "/srv/data/app.db"]),
            fds(&["pipe:[3]", "socket:[4]"]),
        ];
        assert_eq!(compare_fds(&first, &fds(&["socket:[5]", "pipe:[6]"])), None);
    }

    #[test]
    fn more_of_a_kind_matches_but_a_new_or_missing_kind_is_reported() {
        let first = [
            fds(&["pipe:[1]", "socket:[2]", "/srv/data/app.db"]),
            fds(&["pipe:[3]", "socket:[4]"]),
        ];
        let pool = fds(&[
            "pipe:[5]",
            "socket:[6]",
            "/srv/data/app.db",
            "/srv/data/app.db",
        ]);
        assert_eq!(compare_fds(&first, &pool), None);

        let leaked = compare_fds(
            &first,
            &fds(&["pipe:[5]", "socket:[6]", "/srv/logs/api-out.log"]),
        )
        .expect("a difference");
        assert_eq!(
            leaked.extra,
            BTreeSet::from(["/srv/logs/api-out.log".to_owned()])
        );
        assert!(leaked.missing.is_empty());

        let short = compare_fds(&first, &fds(&["pipe:[5]"])).expect("a difference");
        assert_eq!(short.missing, BTreeSet::from(["socket".to_owned()]));
    }

    #[test]
    fn nothing_to_compare_with_is_no_verdict() {
        assert_eq!(compare_fds(&[], &fds(&["pipe:[1]"])), None);
    }
}
