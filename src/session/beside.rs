//! Counts beside the hunt: the summary's count of a variable that its connection does
//! not keep and that no statement counts on the way (on PostgreSQL, a variable the
//! planner expects to pass `KEEP_AT_MOST` rows) is a query of its own, which computes
//! the variable from the lake again. On a server whose connections are processes of
//! their own, that query can run on a second connection while the hunt's statements run
//! on the first, so that the run takes about the longer of the two instead of their sum.
//!
//! Where the server's planner expects more distinct entities than its memory for a
//! count holds (PostgreSQL's hash table spilling past `work_mem`), the worker asks for
//! the variable's identities instead and counts them as they arrive
//! ([`EntityCounter`]): for the bench's 401,154 processes in a million records, 1.15 s
//! instead of 1.49 s, with the hunt's own statements running beside it as before.
//!
//! In: count statements that read only the lake (no table kestrel made on the first
//! connection, which a second cannot see), or statements of a variable's identities.
//! Out: each one's counts, when the summary (or an INFO) asks for them. One worker per
//! connection, opened with its first count, runs them one after another, read-only,
//! with the connection's statement timeout; Ctrl-C stops its statement as it stops the
//! session's own ([`crate::backend::cancel`]), and a session that Ctrl-C stopped waits
//! until its workers' statements are stopped. A worker whose session ends goes once its
//! statement is done.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::backend::{cancel, BackendError, Collect, EntityCounter, OpenOptions};
use crate::fxhash::{FxHashMap, FxHashSet};
use crate::ir::RelId;
use crate::sql::SqlStatement;
use crate::value::Value;

type Answer = Result<Vec<Value>, BackendError>;

struct Job {
    /// The count query (one row: records, entities).
    count: SqlStatement,
    /// First, where the server would spill: the variable's rows (their identity of this
    /// many columns first), counted here as they arrive; the count query only where
    /// their spill files could not be written.
    streamed: Option<(SqlStatement, usize)>,
    reply: Sender<Answer>,
}

/// The workers of a session, by connection, and the counts asked of them.
#[derive(Default)]
pub(super) struct Beside {
    workers: HashMap<String, Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    pending: FxHashMap<usize, Receiver<Answer>>,
    /// Relations whose count was asked of a worker (for EXPLAIN).
    asked: FxHashSet<usize>,
    /// Those of them whose rows the worker counts as they arrive (for EXPLAIN).
    streamed: FxHashSet<usize>,
    /// Counts a worker answered.
    answered: usize,
}

impl Beside {
    /// Starts counting `id` with `count` (or, first, by the rows of `streamed`) on a
    /// second connection to `connection` (opened from `url` with `opts` the first time).
    pub(super) fn ask(
        &mut self,
        id: RelId,
        connection: &str,
        url: &str,
        opts: OpenOptions,
        count: SqlStatement,
        streamed: Option<(SqlStatement, usize)>,
    ) {
        if streamed.is_some() {
            self.streamed.insert(id.0);
        }
        let (reply, answer) = mpsc::channel();
        let mut job = Job {
            count,
            streamed,
            reply,
        };
        if let Some(worker) = self.workers.get(connection) {
            match worker.send(job) {
                Ok(()) => return self.asked_of(id, answer),
                // The worker is gone (its thread could not start): a new one.
                Err(mpsc::SendError(j)) => job = j,
            }
        }
        let (jobs, inbox) = mpsc::channel::<Job>();
        let url = url.to_string();
        let started = std::thread::Builder::new()
            .name("kestrel-count".to_string())
            .spawn(move || {
                work(
                    &url,
                    OpenOptions {
                        allow_write: false,
                        ..opts
                    },
                    inbox,
                )
            });
        let Ok(thread) = started else {
            // No second connection: the summary counts on the first, as it otherwise would.
            return;
        };
        self.threads.push(thread);
        if jobs.send(job).is_err() {
            return;
        }
        self.workers.insert(connection.to_string(), jobs);
        self.asked_of(id, answer);
    }

    fn asked_of(&mut self, id: RelId, answer: Receiver<Answer>) {
        self.pending.insert(id.0, answer);
        self.asked.insert(id.0);
    }

    /// Whether `id`'s count was asked of a worker.
    pub(super) fn was_asked(&self, id: RelId) -> bool {
        self.asked.contains(&id.0)
    }

    /// Whether `id`'s rows are what the worker was asked for, to count them itself.
    pub(super) fn streams(&self, id: RelId) -> bool {
        self.streamed.contains(&id.0)
    }

    /// The answer to `id`'s count, waiting for it; None when none was asked or the
    /// worker went without answering.
    pub(super) fn answer(&mut self, id: RelId) -> Option<Answer> {
        let answer = self.pending.remove(&id.0)?.recv().ok()?;
        if answer.is_ok() {
            self.answered += 1;
        }
        Some(answer)
    }

    /// How many counts workers answered.
    pub(super) fn answered(&self) -> usize {
        self.answered
    }
}

impl Drop for Beside {
    /// The workers end once their statement is done. After Ctrl-C that is at once: their
    /// statements are being stopped on the server, and the session waits (a few seconds
    /// at most) until they are, so that none goes on there after kestrel exits.
    fn drop(&mut self) {
        self.workers.clear();
        if !cancel::requested() {
            return;
        }
        let until = Instant::now() + STOP_WAIT;
        while Instant::now() < until && self.threads.iter().any(|t| !t.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// How long a session that Ctrl-C stopped waits for its workers' statements to stop.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// A worker: opens its connection at the first job, then answers jobs until the
/// session drops its end of the channel.
fn work(url: &str, opts: OpenOptions, inbox: Receiver<Job>) {
    let mut backend = None;
    for job in inbox {
        if backend.is_none() {
            match super::connections::open_with(url, &opts) {
                Ok(b) => backend = Some(b),
                Err(e) => {
                    let _ = job.reply.send(Err(e));
                    continue;
                }
            }
        }
        let Some(b) = backend.as_mut() else { continue };
        let streamed = job
            .streamed
            .and_then(|(rows, n)| EntityCounter::count(b.as_mut(), &rows, n).transpose());
        let answer = streamed.unwrap_or_else(|| {
            let mut rows = Collect::default();
            b.query(&job.count, &mut rows)
                .map(|()| rows.rows.into_iter().next().unwrap_or_default())
        });
        let _ = job.reply.send(answer);
    }
}
