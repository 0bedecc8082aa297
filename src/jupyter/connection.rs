//! The connection file a Jupyter client writes for a kernel, and message signing.
//!
//! In: the JSON file `jupyter_client` passes as `-f FILE` (transport, ip, five ports, the
//! HMAC key and its scheme). Out: the endpoints to bind, and a [`Signer`] that signs and
//! checks messages (HMAC-SHA256 over header, parent header, metadata and content, hex).

use std::path::Path;

use hmac::{KeyInit, Mac};
use serde::Deserialize;

/// The connection file.
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectionInfo {
    #[serde(default = "tcp")]
    pub transport: String,
    pub ip: String,
    pub shell_port: u16,
    pub iopub_port: u16,
    pub stdin_port: u16,
    pub control_port: u16,
    pub hb_port: u16,
    #[serde(default)]
    pub key: String,
    #[serde(default = "hmac_sha256")]
    pub signature_scheme: String,
}

fn tcp() -> String {
    "tcp".to_string()
}

fn hmac_sha256() -> String {
    "hmac-sha256".to_string()
}

impl ConnectionInfo {
    pub fn load(path: &Path) -> Result<ConnectionInfo, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the connection file {}: {e}", path.display()))?;
        let info: ConnectionInfo = serde_json::from_str(&text)
            .map_err(|e| format!("bad connection file {}: {e}", path.display()))?;
        if info.transport != "tcp" {
            return Err(format!(
                "transport `{}` is not supported (only tcp)",
                info.transport
            ));
        }
        if !info.key.is_empty() && info.signature_scheme != "hmac-sha256" {
            return Err(format!(
                "signature scheme `{}` is not supported (only hmac-sha256)",
                info.signature_scheme
            ));
        }
        Ok(info)
    }

    pub fn endpoint(&self, port: u16) -> String {
        format!("{}://{}:{port}", self.transport, self.ip)
    }
}

/// Signs and checks messages with the connection's key (no key: no signatures).
#[derive(Clone)]
pub struct Signer {
    key: Option<Vec<u8>>,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

impl Signer {
    pub fn new(key: &str) -> Signer {
        Signer {
            key: (!key.is_empty()).then(|| key.as_bytes().to_vec()),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Option<HmacSha256> {
        let key = self.key.as_ref()?;
        let mut mac = HmacSha256::new_from_slice(key).ok()?;
        for p in parts {
            mac.update(p);
        }
        Some(mac)
    }

    /// The hex signature of the four signed frames ("" without a key).
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        match self.mac(parts) {
            Some(m) => hex(&m.finalize().into_bytes()),
            None => String::new(),
        }
    }

    /// Whether `signature` is right for the frames (in constant time).
    pub fn verify(&self, parts: &[&[u8]], signature: &[u8]) -> bool {
        match self.mac(parts) {
            None => true,
            Some(m) => match unhex(signature) {
                Some(sig) => m.verify_slice(&sig).is_ok(),
                None => false,
            },
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Signer;

    #[test]
    fn signs_as_python_hmac_does() {
        // hmac.new(b"key", b"abc" + b"def", hashlib.sha256).hexdigest()
        let s = Signer::new("key");
        let sig = s.sign(&[b"abc", b"def"]);
        assert_eq!(
            sig,
            "4c5277d3e85316d1762c7e219862a9440546171f5ae5f1b29499ff9fbdd4c56a"
        );
        assert_eq!(sig.len(), 64);
        assert!(s.verify(&[b"abc", b"def"], sig.as_bytes()));
        assert!(!s.verify(&[b"abc", b"deg"], sig.as_bytes()));
        assert!(!s.verify(&[b"abc", b"def"], b"zz"));
        assert_eq!(Signer::new("").sign(&[b"x"]), "");
    }
}
