//! A Jupyter kernel for Kestrel, in Rust, over pure-Rust ZeroMQ (`zeromq`, no libzmq).
//!
//! Split as evcxr's kernel is: [`connection`] (the connection file, HMAC signing),
//! [`wire`] (messages to and from frames), [`handler`] (requests answered with the
//! session), [`install`] (the kernelspec). This file binds the five sockets and runs
//! them: heartbeat, IOPub, control (interrupt, shutdown) and shell each on a task of a
//! small tokio runtime; the session lives on the calling thread and answers the shell
//! requests one at a time, so control stays responsive while a statement runs.
//!
//! Interrupts: `interrupt_request` on control and SIGINT both request a cancel
//! (`backend::cancel`), which stops the running statement; the cell fails with
//! `KeyboardInterrupt` and the session goes on. Shutdown (and restart, which is a
//! shutdown the client follows with a new kernel) cancels what runs, drops the session
//! (its connections and temporary tables) and ends the process.

pub mod connection;
pub mod handler;
pub mod install;
#[rustfmt::skip]
mod labextension_files;
pub mod wire;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc as tmpsc, oneshot};
use zeromq::{Socket, SocketRecv, SocketSend};

use crate::config::Config;
use connection::{ConnectionInfo, Signer};
use wire::Message;

/// Set once a shutdown was asked for: requests still queued are not run.
pub(crate) static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Work for the session thread.
enum Job {
    Shell(Box<Message>, oneshot::Sender<Option<Message>>),
    Shutdown,
}

/// Runs a kernel for the connection file until a shutdown request.
pub fn kernel(connection_file: &Path, config: Option<&Config>) -> Result<(), String> {
    let info = ConnectionInfo::load(connection_file)?;
    let signer = Signer::new(&info.key);
    crate::cli::interrupt::install_interactive();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kestrel-kernel-io")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the kernel's I/O runtime: {e}"))?;

    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    let (iopub_tx, iopub_rx) = tmpsc::unbounded_channel::<Message>();

    let sockets = rt.block_on(async {
        let mut shell = zeromq::RouterSocket::new();
        let mut control = zeromq::RouterSocket::new();
        let mut stdin = zeromq::RouterSocket::new();
        let mut iopub = zeromq::PubSocket::new();
        let mut hb = zeromq::RepSocket::new();
        for (s, port) in [
            (&mut shell as &mut dyn BindDyn, info.shell_port),
            (&mut control, info.control_port),
            (&mut stdin, info.stdin_port),
            (&mut iopub, info.iopub_port),
            (&mut hb, info.hb_port),
        ] {
            let ep = info.endpoint(port);
            s.bind_dyn(&ep)
                .await
                .map_err(|e| format!("cannot listen on {ep}: {e}"))?;
        }
        Ok::<_, String>((shell, control, stdin, iopub, hb))
    })?;
    let (mut shell, mut control, stdin, mut iopub, mut hb) = sockets;

    // Heartbeat: echo.
    rt.spawn(async move {
        while let Ok(m) = hb.recv().await {
            if hb.send(m).await.is_err() {
                break;
            }
        }
    });
    // IOPub: publish what the session thread and control send.
    {
        let signer = signer.clone();
        let mut rx = iopub_rx;
        rt.spawn(async move {
            let _stdin = stdin; // bound so clients can connect; the kernel never asks for input
            while let Some(m) = rx.recv().await {
                let _ = iopub.send(m.to_frames(&signer)).await;
            }
        });
    }
    // Shell: one request at a time, answered by the session thread.
    {
        let signer = signer.clone();
        let jobs = jobs_tx.clone();
        rt.spawn(async move {
            loop {
                let Ok(frames) = shell.recv().await else {
                    break;
                };
                let req = match Message::from_frames(frames, &signer) {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("kestrel kernel: shell: {e}");
                        continue;
                    }
                };
                let (tx, rx) = oneshot::channel();
                if jobs.send(Job::Shell(Box::new(req), tx)).is_err() {
                    break;
                }
                if let Ok(Some(reply)) = rx.await {
                    let _ = shell.send(reply.to_frames(&signer)).await;
                }
            }
        });
    }
    // Control: interrupt, shutdown, kernel_info; answered here, at once.
    {
        let signer = signer.clone();
        let jobs = jobs_tx;
        let iopub = iopub_tx.clone();
        rt.spawn(async move {
            loop {
                let Ok(frames) = control.recv().await else {
                    break;
                };
                let req = match Message::from_frames(frames, &signer) {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("kestrel kernel: control: {e}");
                        continue;
                    }
                };
                let reply = match req.msg_type() {
                    "interrupt_request" => {
                        crate::backend::cancel::request();
                        req.child("interrupt_reply", json!({"status": "ok"}))
                    }
                    "shutdown_request" => {
                        let restart = req.content["restart"].as_bool().unwrap_or(false);
                        SHUTTING_DOWN.store(true, Ordering::SeqCst);
                        crate::backend::cancel::request();
                        let content = json!({"status": "ok", "restart": restart});
                        let _ = iopub.send(req.broadcast("shutdown_reply", content.clone()));
                        let reply = req.child("shutdown_reply", content);
                        let _ = control.send(reply.to_frames(&signer)).await;
                        let _ = jobs.send(Job::Shutdown);
                        break;
                    }
                    "kernel_info_request" => req.child("kernel_info_reply", handler::kernel_info()),
                    _ => continue,
                };
                let _ = control.send(reply.to_frames(&signer)).await;
            }
        });
    }

    // The session, on this thread.
    let mut handler = handler::Handler::new(config, iopub_tx);
    while let Ok(job) = jobs_rx.recv() {
        match job {
            Job::Shell(_, _) if SHUTTING_DOWN.load(Ordering::SeqCst) => break,
            Job::Shell(req, reply_tx) => {
                handler.busy(&req);
                let reply = handler.handle(&req);
                let _ = reply_tx.send(reply);
                handler.idle(&req);
            }
            Job::Shutdown => break,
        }
    }
    // Connections and temporary tables go with the session; give IOPub a moment to
    // flush, then stop every task.
    drop(handler);
    std::thread::sleep(Duration::from_millis(100));
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Binding any of the socket types through one loop.
trait BindDyn {
    fn bind_dyn<'a>(
        &'a mut self,
        endpoint: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = zeromq::ZmqResult<()>> + Send + 'a>>;
}

impl<S: Socket> BindDyn for S {
    fn bind_dyn<'a>(
        &'a mut self,
        endpoint: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = zeromq::ZmqResult<()>> + Send + 'a>>
    {
        Box::pin(async move { self.bind(endpoint).await.map(|_| ()) })
    }
}
