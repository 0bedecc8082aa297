//! The kernel's requests, answered on the thread that holds the session.
//!
//! In: shell requests (execute, complete, inspect, is_complete, kernel_info, history,
//! comm_info). Out: the reply, and IOPub messages on the way (status busy/idle, the
//! input, a `display_data` per result as it arrives, the summary, an `error`).

use std::io;

use serde_json::{json, Value as Json};
use tokio::sync::mpsc::UnboundedSender;

use super::wire::{Message, PROTOCOL_VERSION};
use crate::config::Config;
use crate::interactive::{self, html, Completeness, Scope};
use crate::output::{write_summary, Format, Frontend, Printer};
use crate::session::{Session, SessionOptions};
use crate::value::Value;

/// Rows of one display a notebook shows; the rest are counted.
pub const MAX_SHOWN_ROWS: usize = 5_000;

/// The `kernel_info_reply` content.
pub fn kernel_info() -> Json {
    json!({
        "status": "ok",
        "protocol_version": PROTOCOL_VERSION,
        "implementation": "kestrel",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "kestrel",
            "version": env!("CARGO_PKG_VERSION"),
            "mimetype": "text/x-kestrel",
            "file_extension": ".hf",
            "codemirror_mode": "kestrel",
        },
        "banner": format!("Kestrel {} — threat hunting in huntflows", env!("CARGO_PKG_VERSION")),
        "help_links": [],
    })
}

/// One kernel's session and what it needs to answer.
pub struct Handler<'c> {
    session: Session<'c>,
    config: Option<&'c Config>,
    count: u64,
    iopub: UnboundedSender<Message>,
}

impl<'c> Handler<'c> {
    pub fn new(config: Option<&'c Config>, iopub: UnboundedSender<Message>) -> Handler<'c> {
        Handler {
            session: Session::new(config, SessionOptions::default()),
            config,
            count: 0,
            iopub,
        }
    }

    fn publish(&self, req: &Message, msg_type: &str, content: Json) {
        let _ = self.iopub.send(req.broadcast(msg_type, content));
    }

    pub fn busy(&self, req: &Message) {
        self.publish(req, "status", json!({"execution_state": "busy"}));
    }

    pub fn idle(&self, req: &Message) {
        self.publish(req, "status", json!({"execution_state": "idle"}));
    }

    fn scope(&self) -> Scope<'c> {
        Scope::of(self.session.program(), self.config)
    }

    /// The reply to a shell request (None: a request this kernel does not answer).
    pub fn handle(&mut self, req: &Message) -> Option<Message> {
        let content = &req.content;
        let (reply_type, body) = match req.msg_type() {
            "kernel_info_request" => ("kernel_info_reply", kernel_info()),
            "execute_request" => ("execute_reply", self.execute(req)),
            "complete_request" => {
                let code = content["code"].as_str().unwrap_or("");
                let cursor = byte_offset(code, content["cursor_pos"].as_u64());
                let c = interactive::complete(&self.scope(), code, cursor);
                (
                    "complete_reply",
                    json!({
                        "status": "ok",
                        "matches": c.candidates,
                        "cursor_start": code[..c.start].chars().count(),
                        "cursor_end": code[..cursor].chars().count(),
                        "metadata": {},
                    }),
                )
            }
            "inspect_request" => {
                let code = content["code"].as_str().unwrap_or("");
                let cursor = byte_offset(code, content["cursor_pos"].as_u64());
                let found = interactive::inspect(&self.scope(), code, cursor);
                let data = match &found {
                    Some(t) => json!({"text/plain": t, "text/html": html::pre(t)}),
                    None => json!({}),
                };
                (
                    "inspect_reply",
                    json!({"status": "ok", "found": found.is_some(), "data": data, "metadata": {}}),
                )
            }
            "is_complete_request" => {
                let code = content["code"].as_str().unwrap_or("");
                let status = match interactive::completeness(code) {
                    Completeness::Complete => "complete",
                    Completeness::Incomplete => "incomplete",
                    Completeness::Invalid => "invalid",
                };
                let mut body = json!({ "status": status });
                if status == "incomplete" {
                    body["indent"] = json!("  ");
                }
                ("is_complete_reply", body)
            }
            "history_request" => ("history_reply", json!({"status": "ok", "history": []})),
            "comm_info_request" => ("comm_info_reply", json!({"status": "ok", "comms": {}})),
            _ => return None,
        };
        Some(req.child(reply_type, body))
    }

    fn execute(&mut self, req: &Message) -> Json {
        let code = req.content["code"].as_str().unwrap_or("").to_string();
        let silent = req.content["silent"].as_bool().unwrap_or(false);
        let store = req.content["store_history"].as_bool().unwrap_or(true) && !silent;
        if store {
            self.count += 1;
        }
        let count = self.count;
        if !silent {
            self.publish(
                req,
                "execute_input",
                json!({"code": code, "execution_count": count}),
            );
        }
        if code.trim().is_empty() {
            return ok_reply(count);
        }
        if !super::SHUTTING_DOWN.load(std::sync::atomic::Ordering::SeqCst) {
            crate::backend::cancel::clear();
        }
        let started = std::time::Instant::now();
        let mut out = Displays {
            req,
            iopub: &self.iopub,
            silent,
            open: None,
        };
        let result = match self.session.execute(&code, &mut out) {
            Ok(ids) if ids.is_empty() => Ok(Vec::new()),
            Ok(ids) => self.session.summary_of(&ids),
            Err(d) => Err(d),
        };
        let interrupted = crate::backend::cancel::requested();
        crate::backend::cancel::clear();
        match result {
            Ok(rows) => {
                if !rows.is_empty() && !silent {
                    let mut text = Vec::new();
                    let _ = write_summary(&mut text, &rows, started.elapsed());
                    let text = String::from_utf8_lossy(&text).trim_start().to_string();
                    self.publish(
                        req,
                        "display_data",
                        json!({
                            "data": {"text/plain": text, "text/html": html::summary(&rows)},
                            "metadata": {},
                            "transient": {},
                        }),
                    );
                }
                ok_reply(count)
            }
            Err(d) => {
                let rendered = self.session.render(&d);
                let ename = if interrupted {
                    "KeyboardInterrupt".to_string()
                } else {
                    d.code.as_str().to_string()
                };
                let traceback: Vec<String> =
                    rendered.trim_end().lines().map(str::to_string).collect();
                self.publish(
                    req,
                    "error",
                    json!({"ename": ename, "evalue": d.message, "traceback": traceback}),
                );
                json!({
                    "status": "error",
                    "execution_count": count,
                    "ename": ename,
                    "evalue": d.message,
                    "traceback": traceback,
                })
            }
        }
    }
}

fn ok_reply(count: u64) -> Json {
    json!({
        "status": "ok",
        "execution_count": count,
        "user_expressions": {},
        "payload": [],
    })
}

/// A cursor in Unicode code points (as Jupyter counts) to a byte offset; the end when
/// absent or past it.
fn byte_offset(code: &str, cursor: Option<u64>) -> usize {
    let n = cursor.map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
    code.char_indices().nth(n).map_or(code.len(), |(i, _)| i)
}

/// A display being collected.
struct Open {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
    more: u64,
}

/// Each display of a cell as a `display_data` with `text/html` and `text/plain`, sent as
/// soon as it ends.
struct Displays<'a> {
    req: &'a Message,
    iopub: &'a UnboundedSender<Message>,
    silent: bool,
    open: Option<Open>,
}

impl Displays<'_> {
    fn send(&self, plain: String, html: String) {
        if self.silent {
            return;
        }
        let _ = self.iopub.send(self.req.broadcast(
            "display_data",
            json!({"data": {"text/plain": plain, "text/html": html}, "metadata": {}, "transient": {}}),
        ));
    }
}

impl Frontend for Displays<'_> {
    fn begin(&mut self, columns: &[String]) -> io::Result<()> {
        self.open = Some(Open {
            columns: columns.to_vec(),
            rows: Vec::new(),
            more: 0,
        });
        Ok(())
    }

    fn row(&mut self, row: &[Value]) -> io::Result<()> {
        let Some(o) = &mut self.open else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "row outside a display",
            ));
        };
        if o.rows.len() < MAX_SHOWN_ROWS {
            o.rows.push(row.to_vec());
        } else {
            o.more += 1;
        }
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        let Some(o) = self.open.take() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "end outside a display",
            ));
        };
        let mut p = Printer::new(Vec::new(), Format::Table);
        p.begin(&o.columns)?;
        for r in &o.rows {
            p.row(r)?;
        }
        p.end()?;
        let mut plain = String::from_utf8_lossy(&p.into_inner()).into_owned();
        if o.more > 0 {
            plain.push_str(&format!("… {} more rows not shown\n", o.more));
        }
        let cells: Vec<Vec<String>> = o
            .rows
            .iter()
            .map(|r| r.iter().map(html::cell).collect())
            .collect();
        self.send(plain, html::table(&o.columns, &cells, o.more));
        Ok(())
    }

    fn text_block(&mut self, text: &str) -> io::Result<()> {
        self.send(text.to_string(), html::pre(text));
        Ok(())
    }

    /// An analytic's display (APPLY): HTML and SVG inline as they are, other kinds as
    /// base64 under their MIME type (what Jupyter expects of images).
    fn display(&mut self, mime: &str, data: &[u8], name: &str) -> io::Result<()> {
        if self.silent {
            return Ok(());
        }
        let body = match mime {
            "text/html" | "image/svg+xml" | "text/plain" => {
                Json::String(String::from_utf8_lossy(data).into_owned())
            }
            _ => Json::String(crate::sigma::value::base64(data)),
        };
        let mut bundle = serde_json::Map::new();
        bundle.insert(mime.to_string(), body);
        bundle
            .entry("text/plain".to_string())
            .or_insert_with(|| Json::String(format!("<{name}: {mime}, {} bytes>", data.len())));
        let _ = self.iopub.send(self.req.broadcast(
            "display_data",
            json!({"data": bundle, "metadata": {}, "transient": {}}),
        ));
        Ok(())
    }
}
