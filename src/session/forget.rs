//! Which relations a session can still read, so that a long one (a REPL, a notebook
//! kernel) forgets the rest.
//!
//! A relation can be read while it is the newest version of its variable, or while a
//! relation that can be read reads it (its plan names it, or scans its kept table). The
//! session counts, for each relation not yet forgotten, the relations that read it, and
//! forgets one when nothing reads it and a newer version of its variable took its
//! place: its kept table is dropped, and its plan and state are let go. Each relation is
//! looked at once after the statement that made it, again when its plan is rewritten to
//! read its kept table, and once when it is forgotten, so the work per statement follows
//! what the statement made and let go, not the length of the session.

use crate::fxhash::FxHashMap;
use crate::ir::{Plan, Program, RelId};

#[derive(Debug, Default)]
pub(super) struct Liveness {
    /// Relations before this one were looked at.
    looked_at: usize,
    /// What each relation looked at and not forgotten reads.
    reads: FxHashMap<usize, Vec<usize>>,
    /// How many relations not forgotten read each relation (absent: none).
    readers: FxHashMap<usize, usize>,
    /// The newest version of each variable, as last looked at.
    newest: FxHashMap<String, usize>,
    /// The relation whose rows each table of computed rows holds, by data source.
    owner: FxHashMap<usize, usize>,
    /// Relations that may have become unreadable since the last look.
    maybe: Vec<usize>,
}

impl Liveness {
    /// Relation `id`'s plan was rewritten to read `source`, a table holding its rows:
    /// it reads what that plan reads now.
    pub(super) fn reads_its_table(&mut self, program: &Program, id: RelId, source: usize) {
        self.owner.insert(source, id.0);
        if let Some(old) = self.reads.remove(&id.0) {
            self.unread(&old);
            let now = self.reads_of(id.0, &program.rel(id).plan);
            self.read(id.0, now);
        }
    }

    /// Looks at the relations made since the last call and returns those nothing can
    /// read any more (forgotten from now on). `newest(i)`: whether relation `i` is the
    /// newest version of its variable.
    pub(super) fn unreadable(
        &mut self,
        program: &Program,
        newest: &dyn Fn(usize) -> bool,
    ) -> Vec<usize> {
        let n = program.relations.len();
        for i in self.looked_at..n {
            let reads = self.reads_of(i, &program.relations[i].plan);
            self.read(i, reads);
            self.maybe.push(i);
            if newest(i) {
                let var = program.relations[i].var.clone();
                if let Some(older) = self.newest.insert(var, i) {
                    self.maybe.push(older);
                }
            }
        }
        self.looked_at = n;
        let mut gone = Vec::new();
        while let Some(i) = self.maybe.pop() {
            if self.readers.contains_key(&i) || newest(i) {
                continue;
            }
            // Not looked at, or forgotten already.
            let Some(reads) = self.reads.remove(&i) else {
                continue;
            };
            self.unread(&reads);
            let var = &program.relations[i].var;
            if self.newest.get(var) == Some(&i) {
                self.newest.remove(var);
            }
            gone.push(i);
        }
        gone
    }

    /// Data source `source` (a forgotten relation's table) is gone.
    pub(super) fn dropped(&mut self, source: usize) {
        self.owner.remove(&source);
    }

    /// Whether relation `i` was looked at and not forgotten.
    pub(super) fn is_live(&self, i: usize) -> bool {
        self.reads.contains_key(&i)
    }

    /// How many relations were looked at, and how many of them are not forgotten.
    pub(super) fn looked_at_and_live(&self) -> (usize, usize) {
        (self.looked_at, self.reads.len())
    }

    /// Files everything under the relations' and data sources' new numbers (`rels[old]`,
    /// `sources[old]`; see `LowerState::compact`).
    pub(super) fn renumber(&mut self, rels: &[Option<usize>], sources: &[Option<usize>]) {
        let rel = |i: usize| rels.get(i).copied().flatten();
        self.reads = std::mem::take(&mut self.reads)
            .into_iter()
            .filter_map(|(i, reads)| Some((rel(i)?, reads.into_iter().filter_map(rel).collect())))
            .collect();
        self.readers = std::mem::take(&mut self.readers)
            .into_iter()
            .filter_map(|(i, n)| Some((rel(i)?, n)))
            .collect();
        self.newest.retain(|_, i| match rel(*i) {
            Some(new) => {
                *i = new;
                true
            }
            None => false,
        });
        self.owner = std::mem::take(&mut self.owner)
            .into_iter()
            .filter_map(|(s, i)| Some((sources.get(s).copied().flatten()?, rel(i)?)))
            .collect();
        self.maybe = self.maybe.iter().filter_map(|&i| rel(i)).collect();
        self.looked_at = rels[..self.looked_at.min(rels.len())]
            .iter()
            .flatten()
            .count();
    }

    /// The relations `plan` (relation `i`'s) reads, each once.
    fn reads_of(&self, i: usize, plan: &Plan) -> Vec<usize> {
        let mut rels = Vec::new();
        plan.rel_refs(&mut rels);
        let mut scans = Vec::new();
        plan.scans(&mut scans);
        let mut reads: Vec<usize> = (rels.into_iter().map(|r| r.0))
            .chain(
                scans
                    .into_iter()
                    .filter_map(|s| self.owner.get(&s).copied()),
            )
            .filter(|&j| j != i)
            .collect();
        reads.sort_unstable();
        reads.dedup();
        reads
    }

    fn read(&mut self, i: usize, reads: Vec<usize>) {
        for &j in &reads {
            *self.readers.entry(j).or_default() += 1;
        }
        self.reads.insert(i, reads);
    }

    fn unread(&mut self, reads: &[usize]) {
        for &j in reads {
            if let Some(k) = self.readers.get_mut(&j) {
                *k -= 1;
                if *k == 0 {
                    self.readers.remove(&j);
                    self.maybe.push(j);
                }
            }
        }
    }
}
