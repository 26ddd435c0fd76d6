//! Panels: WebSocket clients that sign in like the Open CTI panel (`/panel/ws`, first message
//! `{"type":"auth"}`), then timestamp every frame as it arrives.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Read buffer of each client connection, bytes.
const CLIENT_READ_BUFFER: usize = 4 * 1024;

/// A `call` frame as a panel received it.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The call's id.
    pub call_id: String,
    /// The call's state in the frame.
    pub state: String,
    /// Number of matches the frame carried.
    pub matches: usize,
    /// When it arrived (before it was parsed).
    pub t1: Instant,
}

/// Counters of all panels together.
#[derive(Debug, Default)]
pub struct PanelCounters {
    /// Panels that received their `hello`.
    pub connected: AtomicU64,
    /// Panels whose connection failed or closed before the end.
    pub dropped: AtomicU64,
    /// `hello` frames after the first: the server resynchronised a panel that fell behind.
    pub resyncs: AtomicU64,
    /// Frames that were no JSON or had no call.
    pub bad_frames: AtomicU64,
}

/// Every panel's received frames, and the counters.
#[derive(Default)]
pub struct Panels {
    /// Frames by panel index.
    pub frames: Vec<Arc<Mutex<Vec<Frame>>>>,
    /// The STARFACE login of each panel.
    pub users: Vec<String>,
    /// Counters.
    pub counters: Arc<PanelCounters>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Why a panel could not connect.
#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    /// The WebSocket handshake failed.
    #[error("WebSocket connect: {0}")]
    Connect(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server did not say hello.
    #[error("no hello from the server: {0}")]
    NoHello(String),
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens one panel: connect, authenticate, wait for `hello` (at most `limit`).
async fn open(url: &str, token: &str, limit: Duration) -> Result<Ws, PanelError> {
    // A small read buffer (the default is 128 KiB per connection): these clients live in
    // the same process as the connector, and their memory should not hide its memory.
    let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER);
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    let (mut ws, _) = tokio::time::timeout(limit, connect)
        .await
        .map_err(|_| PanelError::NoHello("connect timed out".into()))??;
    ws.send(Message::text(
        json!({"type": "auth", "token": token}).to_string(),
    ))
    .await?;
    loop {
        match tokio::time::timeout(limit, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                return if v["type"] == "hello" {
                    Ok(ws)
                } else {
                    Err(PanelError::NoHello(t.chars().take(200).collect()))
                };
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => return Err(PanelError::NoHello("closed".into())),
            Err(_) => return Err(PanelError::NoHello("timed out".into())),
        }
    }
}

/// Reads frames until the connection ends or the task is aborted.
async fn read(mut ws: Ws, frames: Arc<Mutex<Vec<Frame>>>, counters: Arc<PanelCounters>) {
    while let Some(msg) = ws.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let t1 = Instant::now();
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) => {
                counters.bad_frames.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        match v["type"].as_str() {
            Some("call") => {
                let call = &v["call"];
                let (Some(id), Some(state)) = (call["id"].as_str(), call["state"].as_str()) else {
                    counters.bad_frames.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                frames.lock().await.push(Frame {
                    call_id: id.to_owned(),
                    state: state.to_owned(),
                    matches: call["matches"].as_array().map_or(0, Vec::len),
                    t1,
                });
            }
            Some("hello") => {
                counters.resyncs.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    counters.dropped.fetch_add(1, Ordering::Relaxed);
}

impl Panels {
    /// Opens one panel per `(login, token)`, `parallel` handshakes at a time; each panel's
    /// reader runs on the current runtime. Returns the panels and how many failed to open.
    pub async fn open_all(
        ws_url: &str,
        panels: Vec<(String, String)>,
        parallel: usize,
        limit: Duration,
    ) -> (Self, Vec<PanelError>) {
        let counters = Arc::new(PanelCounters::default());
        let opened = futures::stream::iter(panels.into_iter().map(|(login, token)| {
            let url = ws_url.to_owned();
            async move { (login, open(&url, &token, limit).await) }
        }))
        .buffer_unordered(parallel.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut out = Panels {
            counters: Arc::clone(&counters),
            ..Default::default()
        };
        let mut errors = Vec::new();
        for (login, result) in opened {
            match result {
                Ok(ws) => {
                    counters.connected.fetch_add(1, Ordering::Relaxed);
                    let frames = Arc::new(Mutex::new(Vec::new()));
                    out.tasks.push(tokio::spawn(read(
                        ws,
                        Arc::clone(&frames),
                        Arc::clone(&counters),
                    )));
                    out.frames.push(frames);
                    out.users.push(login);
                }
                Err(e) => errors.push(e),
            }
        }
        (out, errors)
    }

    /// Takes every panel's frames so far, with the panel's login.
    pub async fn take_frames(&self) -> Vec<(usize, Frame)> {
        let mut all = Vec::new();
        for (i, f) in self.frames.iter().enumerate() {
            all.extend(
                std::mem::take(&mut *f.lock().await)
                    .into_iter()
                    .map(|fr| (i, fr)),
            );
        }
        all
    }

    /// Number of panels per login.
    pub fn panels_of(&self, login: &str) -> usize {
        self.users.iter().filter(|u| *u == login).count()
    }

    /// Closes every panel.
    pub fn close(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}
