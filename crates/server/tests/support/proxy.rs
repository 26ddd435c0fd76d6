//! A small TCP proxy for fault tests: forwards to one upstream and, as told at run time,
//! delays, refuses, resets, cuts a connection after some bytes, or swallows everything.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with new connections (and, for [`Mode::Delay`], with every chunk of
/// live ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pass bytes through.
    Forward,
    /// Pass bytes through, each chunk late by this much.
    Delay(Duration),
    /// Accept, then close at once (the peer reads EOF).
    Refuse,
    /// Accept, then reset (the peer reads ECONNRESET).
    Reset,
    /// Pass the request through, but reset after this many bytes of the answer.
    CutAfter(usize),
    /// Accept and read, never answer.
    Blackhole,
    /// Pass requests through at once, hold the first chunk of each answer this long: the
    /// upstream has done the work (a Task exists) long before the client hears of it.
    AnswerDelay(Duration),
    /// Pass requests through; when a request chunk contains this text (e.g. a request line),
    /// reset the connection as its answer arrives: the upstream did the work, the client
    /// never hears of it (as after a timeout).
    LoseAnswerTo(&'static str),
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    generation: watch::Sender<u64>,
    accepted: Arc<AtomicU64>,
    rewrite: Rewrite,
    task: JoinHandle<()>,
}

/// Bytes of answers to replace (same length, so that `Content-Length` stays right).
type Rewrite = Arc<Mutex<Option<(Vec<u8>, Vec<u8>)>>>;

fn rewritten(chunk: &[u8], rewrite: &Rewrite) -> Vec<u8> {
    let Some((from, to)) = rewrite.lock().unwrap().clone() else {
        return chunk.to_vec();
    };
    let mut out = chunk.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if out[i..i + from.len()] == from[..] {
            out[i..i + from.len()].copy_from_slice(&to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reset(stream: TcpStream) {
    // SO_LINGER 0 makes close send RST instead of FIN.
    #[allow(deprecated)] // tokio deprecates it for blocking closes; with 0 it cannot block
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

impl FaultProxy {
    /// Listens on a loopback port; forwards to `upstream` until told otherwise.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Forward));
        let (generation, _) = watch::channel(0u64);
        let accepted = Arc::new(AtomicU64::new(0));
        let rewrite: Rewrite = Arc::default();
        let task = {
            let rewrite = rewrite.clone();
            let mode = mode.clone();
            let generation = generation.clone();
            let accepted = accepted.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let m = *mode.lock().unwrap();
                    let gen_rx = generation.subscribe();
                    let mode = mode.clone();
                    let rewrite = rewrite.clone();
                    tokio::spawn(handle(client, upstream, m, mode, gen_rx, rewrite));
                }
            })
        };
        Self {
            addr,
            mode,
            generation,
            accepted,
            rewrite,
            task,
        }
    }

    /// Replaces `from` by `to` in every answer from now on (within one read chunk), e.g. the
    /// upstream's own origin in an OAuth `instance_url`, so that later requests come through
    /// the proxy too. The two must be equally long (`Content-Length` is not touched).
    pub fn rewrite_answers(&self, from: &str, to: &str) {
        assert_eq!(from.len(), to.len(), "{from:?} -> {to:?}: lengths differ");
        *self.rewrite.lock().unwrap() = Some((from.as_bytes().to_vec(), to.as_bytes().to_vec()));
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes what happens to new connections (and the delay of live ones).
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Resets every live connection (pooled keep-alive connections too).
    pub fn reset_live(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

async fn handle(
    client: TcpStream,
    upstream: SocketAddr,
    mode: Mode,
    live_mode: Arc<Mutex<Mode>>,
    mut generation: watch::Receiver<u64>,
    rewrite: Rewrite,
) {
    match mode {
        Mode::Refuse => return drop(client),
        Mode::Reset => return reset(client),
        Mode::Blackhole => {
            let mut client = client;
            let mut buf = [0u8; 4096];
            loop {
                tokio::select! {
                    n = client.read(&mut buf) => if !matches!(n, Ok(n) if n > 0) { return },
                    _ = generation.changed() => return reset(client),
                }
            }
        }
        Mode::Forward
        | Mode::Delay(_)
        | Mode::CutAfter(_)
        | Mode::AnswerDelay(_)
        | Mode::LoseAnswerTo(_) => {}
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return reset(client);
    };
    let (mut client, mut server) = (client, server);
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let limit = match mode {
        Mode::CutAfter(n) => Some(n),
        _ => None,
    };
    let delay = || match *live_mode.lock().unwrap() {
        Mode::Delay(d) => Some(d),
        _ => None,
    };
    let mut cbuf = vec![0u8; 16 * 1024];
    let mut sbuf = vec![0u8; 16 * 1024];
    let answer_delay = || match *live_mode.lock().unwrap() {
        Mode::AnswerDelay(d) => Some(d),
        _ => None,
    };
    // Set when a request chunk went upstream: the next answer chunk is the first of an answer.
    let mut awaiting_answer = false;
    // Set when a request to lose the answer of went upstream.
    let mut lose_answer = false;
    let mut sent = 0usize;
    let mut client_open = true;
    loop {
        tokio::select! {
            n = client.read(&mut cbuf), if client_open => match n {
                Ok(0) | Err(_) => {
                    client_open = false;
                    let _ = server.shutdown().await;
                }
                Ok(n) => {
                    if let Some(d) = delay() {
                        tokio::time::sleep(d).await;
                    }
                    if let Mode::LoseAnswerTo(marker) = *live_mode.lock().unwrap()
                        && cbuf[..n]
                            .windows(marker.len())
                            .any(|w| w == marker.as_bytes())
                    {
                        lose_answer = true;
                    }
                    if server.write_all(&cbuf[..n]).await.is_err() {
                        return reset(client);
                    }
                    awaiting_answer = true;
                }
            },
            n = server.read(&mut sbuf) => match n {
                Ok(0) | Err(_) => {
                    let _ = client.shutdown().await;
                    return;
                }
                Ok(n) => {
                    if lose_answer {
                        return reset(client);
                    }
                    if let Some(d) = delay() {
                        tokio::time::sleep(d).await;
                    }
                    if std::mem::take(&mut awaiting_answer)
                        && let Some(d) = answer_delay()
                    {
                        tokio::time::sleep(d).await;
                    }
                    let n = limit.map_or(n, |l| n.min(l.saturating_sub(sent)));
                    if client.write_all(&rewritten(&sbuf[..n], &rewrite)).await.is_err() {
                        return;
                    }
                    sent += n;
                    if limit.is_some_and(|l| sent >= l) {
                        let _ = client.flush().await;
                        return reset(client);
                    }
                }
            },
            _ = generation.changed() => return reset(client),
        }
    }
}
