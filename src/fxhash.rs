//! A fast, non-cryptographic hasher for the compiler's own maps (mapping lookups, memo
//! tables, relation ids). Keys come from the mappings and the hunt, lookups are many and
//! short: SipHash's resistance to chosen keys buys nothing here and costs a tenth of a
//! compile. The algorithm is rustc's FxHash (a multiply and rotate per word).

use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;
pub type FxHashSet<K> = std::collections::HashSet<K, FxBuild>;
pub type FxIndexMap<K, V> = indexmap::IndexMap<K, V, FxBuild>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn h(v: impl Hash) -> u64 {
        FxBuild::default().hash_one(v)
    }

    #[test]
    fn equal_keys_hash_alike_and_near_keys_apart() {
        assert_eq!(h("process.name"), h(String::from("process.name")));
        let keys = [
            "a",
            "b",
            "ab",
            "ba",
            "process.name",
            "process.names",
            "",
            "\0",
        ];
        let hashes: std::collections::BTreeSet<u64> = keys.iter().map(h).collect();
        assert_eq!(hashes.len(), keys.len());
        let mut m: FxHashMap<(usize, String), u32> = FxHashMap::default();
        m.insert((1, "x".into()), 7);
        assert_eq!(m.get(&(1, "x".to_string())), Some(&7));
        assert_eq!(m.get(&(2, "x".to_string())), None);
    }
}
