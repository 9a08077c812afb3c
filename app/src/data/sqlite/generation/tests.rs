//! The protocol against a model of processes, a database and a cache, run
//! in every interleaving proptest picks; and the file across openings.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use proptest::prelude::*;
use tokio::sync::oneshot;

use super::*;

/// Polls `future` once.
fn poll<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// The generation now, taken synchronously (it never waits).
fn now(generation: &SharedGeneration) -> Generation {
    let mut current = generation.current();
    match poll(current.as_mut()) {
        Poll::Ready(taken) => taken.unwrap(),
        Poll::Pending => panic!("a shared-memory read never waits"),
    }
}

type Commit<'a> = Pin<Box<dyn Future<Output = Result<(), ()>> + 'a>>;

/// A write in the model, as far as it got.
enum Write<'a> {
    /// Holds the write lock, marker raised, `COMMIT` sent.
    Committing(Commit<'a>, oneshot::Sender<()>),
    /// Its commit landed as version `.1`; not yet acknowledged.
    Landed(Commit<'a>, u64),
    /// Dropped while committing: it still holds the lock, and its commit
    /// lands or rolls back later, on its own.
    Orphan,
}

/// A read in the model, as far as it got.
#[derive(Clone, Copy)]
enum Read {
    /// Took the generation, when writes up to `.1` were acknowledged.
    Taken(Generation, u64),
    /// Missed and loaded version `.1`.
    Loaded(Generation, u64),
}

/// Everything the model tracks.
struct World<'a> {
    database: u64,
    acknowledged: u64,
    lock_held: bool,
    writes: Vec<(usize, Write<'a>)>,
    reads: Vec<Read>,
    cache: HashMap<Generation, u64>,
}

impl<'a> World<'a> {
    /// One step chosen by `choice`; returns a stale read if one was served.
    fn step(&mut self, this: &'a [SharedGeneration], choice: (u8, u8)) -> Option<String> {
        let (what, which) = (choice.0 % 7, usize::from(choice.1));
        match what {
            // A write begins on a process, if the write lock is free.
            0 if !self.lock_held => {
                let process = which % this.len();
                let (landed, commit) = oneshot::channel::<()>();
                let mut future: Commit<'a> =
                    Box::pin(this[process].commit(async move { commit.await.map_err(|_| ()) }));
                assert!(poll(future.as_mut()).is_pending());
                self.lock_held = true;
                self.writes
                    .push((process, Write::Committing(future, landed)));
            }
            // The write holding the lock lands its commit (an orphan's
            // lands or rolls back).
            1 => {
                let at = self
                    .writes
                    .iter()
                    .position(|(_, w)| matches!(w, Write::Committing(..) | Write::Orphan))?;
                self.lock_held = false;
                match self.writes.remove(at) {
                    (process, Write::Committing(future, landed)) => {
                        self.database += 1;
                        landed.send(()).unwrap();
                        self.writes
                            .push((process, Write::Landed(future, self.database)));
                    }
                    _ => self.database += u64::from(which % 2 == 0),
                }
            }
            // A landed write finishes and is acknowledged.
            2 => {
                let landed: Vec<usize> = (0..self.writes.len())
                    .filter(|&i| matches!(self.writes[i].1, Write::Landed(..)))
                    .collect();
                let at = *landed.get(which % landed.len().max(1))?;
                let (_, Write::Landed(mut future, version)) = self.writes.remove(at) else {
                    unreachable!()
                };
                assert!(poll(future.as_mut()).is_ready());
                self.acknowledged = self.acknowledged.max(version);
            }
            // A write in flight is cancelled (dropped), never acknowledged.
            3 if !self.writes.is_empty() => {
                let at = which % self.writes.len();
                if matches!(self.writes[at].1, Write::Committing(..)) {
                    self.writes[at].1 = Write::Orphan;
                } else if !matches!(self.writes[at].1, Write::Orphan) {
                    self.writes.remove(at);
                }
            }
            // A read takes the generation on some process.
            4 => {
                let taken = now(&this[which % this.len()]);
                self.reads.push(Read::Taken(taken, self.acknowledged));
            }
            // A read looks up, or loads on a miss.
            5 if !self.reads.is_empty() => {
                let at = which % self.reads.len();
                if let Read::Taken(taken, acknowledged) = self.reads[at] {
                    match self.cache.get(&taken) {
                        Some(&version) if version < acknowledged => {
                            return Some(format!(
                                "served version {version} after {acknowledged} was acknowledged"
                            ));
                        }
                        Some(_) => {
                            self.reads.remove(at);
                        }
                        None => self.reads[at] = Read::Loaded(taken, self.database),
                    }
                }
            }
            // A loaded read stores its value if the generation allows.
            6 if !self.reads.is_empty() => {
                let at = which % self.reads.len();
                if let Read::Loaded(taken, version) = self.reads[at] {
                    self.reads.remove(at);
                    if this[which % this.len()].still(taken) {
                        if version != self.database {
                            return Some(format!(
                                "stored version {version} after {} landed",
                                self.database
                            ));
                        }
                        self.cache.insert(taken, version);
                    }
                }
            }
            _ => {}
        }
        None
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// However writes, cancellations and reads on two processes interleave,
    /// no read is served a version older than one acknowledged before it
    /// took the generation, and no entry is stored once a commit landed
    /// after its load (even one never acknowledged).
    #[test]
    fn no_read_is_older_than_an_acknowledged_write(
        steps in proptest::collection::vec((any::<u8>(), any::<u8>()), 1..300)
    ) {
        let region = Arc::new(Region::private());
        let processes = vec![
            SharedGeneration::attach(Arc::clone(&region), 0),
            SharedGeneration::attach(Arc::clone(&region), 1),
        ];
        let mut world = World {
            database: 0,
            acknowledged: 0,
            lock_held: false,
            writes: Vec::new(),
            reads: Vec::new(),
            cache: HashMap::new(),
        };
        for choice in steps {
            if let Some(stale) = world.step(&processes, choice) {
                prop_assert!(false, "{}", stale);
            }
        }
    }
}

#[test]
fn a_cancelled_commit_stops_stores_until_the_next_commit() {
    let generation = SharedGeneration::private();
    let taken = now(&generation);
    assert!(generation.still(taken));
    let (_landed, commit) = oneshot::channel::<()>();
    let mut cancelled = Box::pin(generation.commit(async move { commit.await.map_err(|_| ()) }));
    assert!(poll(cancelled.as_mut()).is_pending());
    drop(cancelled);
    let after = now(&generation);
    assert!(!generation.still(after), "no store while a commit may land");
    let mut next = Box::pin(generation.commit(async { Ok::<_, ()>(()) }));
    assert!(poll(next.as_mut()).is_ready());
    let settled = now(&generation);
    assert!(settled.serial >= after.serial + 2, "settled, then counted");
    assert!(generation.still(settled));
}

#[test]
fn the_file_is_shared_and_a_dead_owners_slot_is_settled() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("app.db");
    std::fs::write(&database, b"").unwrap();
    let one = SharedGeneration::open_beside(&database, CONTENT).unwrap();
    let two = SharedGeneration::open_beside(&database, CONTENT).unwrap();
    assert_ne!(one.slot, two.slot);
    let before = now(&one);
    assert_eq!(before, now(&two), "one epoch and serial for both");
    assert_ne!(before.epoch, 0);
    let mut commit = Box::pin(two.commit(async { Ok::<_, ()>(()) }));
    assert!(poll(commit.as_mut()).is_ready());
    drop(commit);
    assert_eq!(now(&one).serial, before.serial + 1, "a commit counts once");

    // `two` dies with a commit in flight: its slot stays raised.
    let (_landed, pending) = oneshot::channel::<()>();
    let mut in_flight = Box::pin(two.commit(async move { pending.await.map_err(|_| ()) }));
    assert!(poll(in_flight.as_mut()).is_pending());
    std::mem::forget(in_flight);
    let raised = now(&one);
    assert!(!one.still(raised), "alive: its slot stays raised");
    assert!(!one.still(raised), "alive: its slot stays raised");
    let three = SharedGeneration::open_beside(&database, CONTENT).unwrap();
    drop(two);
    // The first read that finds the slot raised settles it (a dead owner).
    assert!(!three.still(raised));
    let repaired = now(&three);
    assert_eq!(repaired.epoch, before.epoch);
    assert_eq!(repaired.serial, raised.serial + 2, "opened, then settled");
    assert!(one.still(repaired) && three.still(repaired));
    let four = SharedGeneration::open_beside(&database, CONTENT).unwrap();
    assert_eq!(
        now(&four).serial,
        repaired.serial + 1,
        "every opening counts"
    );
}
