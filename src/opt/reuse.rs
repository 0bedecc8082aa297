//! Reuse of identical subplans: a relation computed exactly as an earlier one (the same
//! plan over the same relations, the same columns) becomes a reference to it, and what
//! reads the later one reads the earlier, so the database computes the rows once. A hunt
//! that repeats a GET, or re-derives a variable the same way, costs one scan.
//!
//! Relations are compared by a structural hash first, then by equality.

use crate::fxhash::FxHashMap;
use std::hash::{Hash, Hasher};

use crate::ir::{Plan, Program, RelId, Relation};

/// Rewrites `program` so that no two relations compute the same rows the same way.
pub fn reuse_subplans(mut program: Program) -> Program {
    Reuse::default().extend(&mut program, 0);
    program
}

/// What [`reuse_subplans`] learnt of a program's relations, kept by a session so each
/// statement it adds is compared with what came before without walking it all again.
#[derive(Debug, Default)]
pub struct Reuse {
    /// Relations before this one were compared.
    next: usize,
    /// The earlier relation that computes a relation's rows, for those that repeat one.
    alias: FxHashMap<usize, RelId>,
    /// The relations that repeat none, by fingerprint.
    seen: FxHashMap<u64, Vec<usize>>,
    /// The fingerprint each of those was filed under.
    keys: FxHashMap<usize, u64>,
}

impl Reuse {
    /// Applies the pass to the relations added since the last call and to the outputs
    /// from `outputs_from` on.
    pub fn extend(&mut self, program: &mut Program, outputs_from: usize) {
        let alias = &mut self.alias;
        for i in self.next..program.relations.len() {
            // Relations are in dependency order: what this one reads is settled already.
            program.relations[i]
                .plan
                .map_rel_refs(&|id| alias.get(&id.0).copied().unwrap_or(id));
            let key = fingerprint(&program.relations[i]);
            let same = self.seen.get(&key).and_then(|candidates| {
                candidates
                    .iter()
                    .copied()
                    .find(|&j| same_rows(&program.relations[j], &program.relations[i]))
            });
            match same {
                Some(j) => {
                    alias.insert(i, RelId(j));
                    program.relations[i].plan = Plan::Rel(RelId(j));
                }
                None => {
                    self.seen.entry(key).or_default().push(i);
                    self.keys.insert(i, key);
                }
            }
        }
        self.next = program.relations.len();
        for o in program.outputs.iter_mut().skip(outputs_from) {
            // An output of a repeated relation reads it under its own name (its CTE is a
            // one-line view of the first); what it reads through semi-joins is shared.
            let own = o.rel;
            o.plan.map_rel_refs(&|id| {
                if id == own {
                    id
                } else {
                    alias.get(&id.0).copied().unwrap_or(id)
                }
            });
        }
    }

    /// Files everything under the relations' new numbers (`rels[old]`, None for those
    /// gone; see `LowerState::compact`).
    pub fn renumber(&mut self, rels: &[Option<usize>]) {
        let rel = |i: usize| rels.get(i).copied().flatten();
        self.next = rels[..self.next.min(rels.len())].iter().flatten().count();
        self.alias = std::mem::take(&mut self.alias)
            .into_iter()
            .filter_map(|(i, j)| Some((rel(i)?, RelId(rel(j.0)?))))
            .collect();
        for candidates in self.seen.values_mut() {
            *candidates = candidates.iter().filter_map(|&j| rel(j)).collect();
        }
        self.seen.retain(|_, candidates| !candidates.is_empty());
        self.keys = std::mem::take(&mut self.keys)
            .into_iter()
            .filter_map(|(i, key)| Some((rel(i)?, key)))
            .collect();
    }

    /// Stops offering `forgotten` relations (which nothing reads any more) as the
    /// computation of later ones.
    pub fn forget(&mut self, forgotten: &[RelId]) {
        for id in forgotten {
            self.alias.remove(&id.0);
            let Some(key) = self.keys.remove(&id.0) else {
                continue;
            };
            if let Some(candidates) = self.seen.get_mut(&key) {
                candidates.retain(|&j| j != id.0);
                if candidates.is_empty() {
                    self.seen.remove(&key);
                }
            }
        }
    }
}

fn fingerprint(r: &Relation) -> u64 {
    let mut h = crate::fxhash::FxHasher::default();
    r.plan.hash(&mut h);
    r.columns.hash(&mut h);
    r.entity.hash(&mut h);
    h.finish()
}

fn same_rows(a: &Relation, b: &Relation) -> bool {
    a.plan == b.plan
        && a.columns == b.columns
        && a.entity == b.entity
        && a.kind == b.kind
        && a.identity == b.identity
        && a.identity_alt == b.identity_alt
        && a.source == b.source
}

#[cfg(test)]
mod tests {
    use crate::ir::{Plan, RelId};
    use crate::lower::LowerOptions;
    use crate::source::SourceFile;

    fn program(hunt: &str) -> crate::ir::Program {
        let src = SourceFile::new("t.hf", hunt);
        crate::compile_program(&src, LowerOptions::default()).expect("compiles")
    }

    #[test]
    fn a_repeated_relation_and_what_is_derived_from_it_read_the_first() {
        let p = program(
            "a = GET process FROM sqlite://events WHERE name = 'x'\n\
             b = GET process FROM sqlite://events WHERE name = 'x'\n\
             ka = FIND process CREATED BY a\n\
             kb = FIND process CREATED BY b\n\
             DISP kb\n",
        );
        assert_eq!(p.relations[1].plan, Plan::Rel(RelId(0)));
        assert_eq!(p.relations[3].plan, Plan::Rel(RelId(2)));
        // The output still shows its own variable.
        assert_eq!(p.outputs[0].rel, RelId(3));
    }

    #[test]
    fn relations_that_differ_anywhere_stay_apart() {
        let p = program(
            "a = GET process FROM sqlite://events WHERE name = 'x'\n\
             b = GET process FROM sqlite://events WHERE name = 'y'\n\
             c = GET file FROM sqlite://events WHERE name = 'x'\n\
             d = GET process FROM sqlite://events WHERE name = 'x' LIMIT 3\n\
             DISP b\n",
        );
        for r in &p.relations[1..] {
            assert!(!matches!(r.plan, Plan::Rel(_)), "{}: {:?}", r.name, r.plan);
        }
    }
}
