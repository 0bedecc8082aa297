//! Jupyter wire messages: multipart ZeroMQ frames to and from [`Message`]s.
//!
//! In: frames `[identities…, "<IDS|MSG>", signature, header, parent_header, metadata,
//! content, buffers…]` from a ROUTER socket. Out: the same layout, signed, for replies
//! (to the identities of the request) and for IOPub broadcasts (topic = message type).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::{json, Value as Json};
use zeromq::ZmqMessage;

use super::connection::Signer;

const DELIMITER: &[u8] = b"<IDS|MSG>";
/// The messaging protocol version spoken.
pub const PROTOCOL_VERSION: &str = "5.3";

/// One message.
#[derive(Debug, Clone)]
pub struct Message {
    pub identities: Vec<Bytes>,
    pub header: Json,
    pub parent_header: Json,
    pub metadata: Json,
    pub content: Json,
}

impl Message {
    /// Reads a message, checking its signature.
    pub fn from_frames(msg: ZmqMessage, signer: &Signer) -> Result<Message, String> {
        let frames = msg.into_vec();
        let Some(d) = frames.iter().position(|f| f.as_ref() == DELIMITER) else {
            return Err("message without the <IDS|MSG> delimiter".into());
        };
        if frames.len() < d + 6 {
            return Err("message with fewer than four parts".into());
        }
        let parts: Vec<&[u8]> = frames[d + 2..d + 6].iter().map(|b| b.as_ref()).collect();
        if !signer.verify(&parts, &frames[d + 1]) {
            return Err("message with a bad signature".into());
        }
        let parse = |b: &[u8]| -> Result<Json, String> {
            serde_json::from_slice(b).map_err(|e| format!("bad message part: {e}"))
        };
        Ok(Message {
            identities: frames[..d].to_vec(),
            header: parse(parts[0])?,
            parent_header: parse(parts[1])?,
            metadata: parse(parts[2])?,
            content: parse(parts[3])?,
        })
    }

    /// The frames to send, signed.
    pub fn to_frames(&self, signer: &Signer) -> ZmqMessage {
        let header = serde_json::to_vec(&self.header).unwrap_or_default();
        let parent = serde_json::to_vec(&self.parent_header).unwrap_or_default();
        let metadata = serde_json::to_vec(&self.metadata).unwrap_or_default();
        let content = serde_json::to_vec(&self.content).unwrap_or_default();
        let sig = signer.sign(&[&header, &parent, &metadata, &content]);
        let mut frames: Vec<Bytes> = self.identities.clone();
        frames.push(Bytes::from_static(DELIMITER));
        frames.push(Bytes::from(sig));
        frames.push(Bytes::from(header));
        frames.push(Bytes::from(parent));
        frames.push(Bytes::from(metadata));
        frames.push(Bytes::from(content));
        ZmqMessage::try_from(frames).expect("at least the delimiter")
    }

    pub fn msg_type(&self) -> &str {
        self.header["msg_type"].as_str().unwrap_or("")
    }

    /// A message answering or following this one: its identities and header as parent.
    pub fn child(&self, msg_type: &str, content: Json) -> Message {
        Message {
            identities: self.identities.clone(),
            header: header(msg_type, self.header["session"].as_str().unwrap_or("")),
            parent_header: self.header.clone(),
            metadata: json!({}),
            content,
        }
    }

    /// An IOPub broadcast following this request (the topic is the message type).
    pub fn broadcast(&self, msg_type: &str, content: Json) -> Message {
        let mut m = self.child(msg_type, content);
        m.identities = vec![Bytes::from(msg_type.to_string().into_bytes())];
        m
    }
}

/// A fresh message header.
pub fn header(msg_type: &str, session: &str) -> Json {
    json!({
        "msg_id": new_id(),
        "session": session,
        "username": "kestrel",
        "date": now_iso(),
        "msg_type": msg_type,
        "version": PROTOCOL_VERSION,
    })
}

/// This kernel process's id (random per process).
pub fn kernel_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(new_id)
}

/// A unique id in UUID form: the process, the time and a counter, mixed.
pub fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = crate::lower::time::now_micros() as u64;
    let pid = u64::from(std::process::id());
    let a = mix(t ^ (pid << 32));
    let b = mix(n.wrapping_add(a).wrapping_add(pid));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn now_iso() -> String {
    crate::lower::time::format_strftime(crate::lower::time::now_micros(), "%Y-%m-%dT%H:%M:%S.%fZ")
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_changed_frame_is_refused() {
        let signer = Signer::new("secret");
        let m = Message {
            identities: vec![Bytes::from_static(b"client-1")],
            header: header("execute_request", "s1"),
            parent_header: json!({}),
            metadata: json!({}),
            content: json!({"code": "DISP x"}),
        };
        let frames = m.to_frames(&signer);
        let back = Message::from_frames(frames.clone(), &signer).unwrap();
        assert_eq!(back.identities, m.identities);
        assert_eq!(back.content["code"], "DISP x");
        assert_eq!(back.msg_type(), "execute_request");
        let mut v = frames.into_vec();
        let last = v.len() - 1;
        v[last] = Bytes::from_static(b"{\"code\": \"DISP y\"}");
        let tampered = ZmqMessage::try_from(v).unwrap();
        assert!(Message::from_frames(tampered, &signer).is_err());
        assert_ne!(new_id(), new_id());
    }
}
