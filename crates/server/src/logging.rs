//! Logging with the manual's five levels (ERROR..TRACE, default INFO), changeable at run time,
//! written to stderr and to a daily file in `<data_dir>/logs/` (`ctibridge.log.<YYYY-MM-DD>`,
//! UTC dates, the newest [`MAX_LOG_FILES`] kept) that the admin UI offers for download.
//!
//! The level applies to ctibridge's own crates. Libraries (hyper, rustls, sqlx, ...) log at
//! most INFO whatever the level, so that TRACE shows our protocol details instead of drowning
//! them in every TLS record and HTTP/2 frame.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ctibridge_config::LogLevel;
use tracing::Subscriber;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Registry, fmt, reload};

/// Log files are `<data_dir>/logs/ctibridge.log.<YYYY-MM-DD>`.
pub const LOG_FILE_PREFIX: &str = "ctibridge.log";
/// How many daily files are kept; older ones are deleted when a new day starts.
pub const MAX_LOG_FILES: usize = 14;
/// Targets starting with this get the configured level; everything else at most INFO.
const OUR_TARGETS: &str = "ctibridge";

/// Why logging could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The `logs` directory could not be created.
    #[error("cannot create the log directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The log file could not be opened.
    #[error("cannot open a log file in {}: {source}", path.display())]
    OpenFile {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: tracing_appender::rolling::InitError,
    },
    /// Another logger was installed first (only one per process is possible).
    #[error("a logger is already installed in this process: {0}")]
    AlreadyInstalled(#[source] tracing_subscriber::util::TryInitError),
    /// The new level could not be applied (the subscriber is gone).
    #[error("cannot change the log level: {0}")]
    Reload(#[source] reload::Error),
}

/// Changes the level at run time and finds the log files; cheap to clone.
#[derive(Clone)]
pub struct LogControl {
    handle: reload::Handle<Targets, Registry>,
    // The handle cannot tell the level back; kept here, under the lock that also serialises
    // changes so that two admins changing it at once cannot leave the two out of step.
    level: Arc<Mutex<LogLevel>>,
    dir: PathBuf,
}

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogControl")
            .field("level", &self.level())
            .field("dir", &self.dir)
            .finish()
    }
}

impl LogControl {
    /// Applies a new level at once to every thread.
    pub fn set_level(&self, level: LogLevel) -> Result<(), LogError> {
        let mut current = self.level.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = *current;
        self.handle
            .reload(filter(level))
            .map_err(LogError::Reload)?;
        *current = level;
        drop(current);
        tracing::info!(%previous, %level, "log level changed");
        Ok(())
    }

    /// The level in effect.
    pub fn level(&self) -> LogLevel {
        *self.level.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The directory holding the log files.
    pub fn log_dir(&self) -> &Path {
        &self.dir
    }

    /// The file being written now (the newest `ctibridge.log.<date>`), for the admin download;
    /// `None` before the first file exists or if the directory cannot be read.
    pub fn current_file(&self) -> Option<PathBuf> {
        let prefix = format!("{LOG_FILE_PREFIX}.");
        std::fs::read_dir(&self.dir)
            .ok()?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                // ISO dates sort by name, so the greatest name is the newest day.
                name.starts_with(&prefix).then_some(name)
            })
            .max()
            .map(|name| self.dir.join(name))
    }
}

/// Flushes buffered lines to the file when dropped; keep it alive as long as the program runs.
pub struct LogGuard {
    _worker: WorkerGuard,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

fn filter(level: LogLevel) -> Targets {
    let ours = level_filter(level);
    Targets::new()
        .with_target(OUR_TARGETS, ours)
        .with_default(ours.min(LevelFilter::INFO))
}

/// Builds the subscriber without installing it, so tests can use it with
/// `tracing::subscriber::with_default` (a process has only one global subscriber).
pub fn build(
    data_dir: &Path,
    level: LogLevel,
) -> Result<
    (
        impl Subscriber + Send + Sync + 'static,
        LogControl,
        LogGuard,
    ),
    LogError,
> {
    let dir = data_dir.join("logs");
    std::fs::create_dir_all(&dir).map_err(|source| LogError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(LOG_FILE_PREFIX)
        .max_log_files(MAX_LOG_FILES)
        .build(&dir)
        .map_err(|source| LogError::OpenFile {
            path: dir.clone(),
            source,
        })?;
    // Writing happens on a thread of its own: a slow disk must not delay a screen pop.
    let (file_writer, worker) = NonBlockingBuilder::default()
        .thread_name("ctibridge-log")
        .finish(appender);

    let (filter_layer, handle) = reload::Layer::new(filter(level));
    let subscriber = Registry::default()
        .with(filter_layer)
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(fmt::layer().with_writer(file_writer).with_ansi(false));
    let control = LogControl {
        handle,
        level: Arc::new(Mutex::new(level)),
        dir,
    };
    Ok((subscriber, control, LogGuard { _worker: worker }))
}

/// Builds the subscriber and installs it for the whole process (also receiving `log` records
/// of libraries); call once, at start.
pub fn init(data_dir: &Path, level: LogLevel) -> Result<(LogControl, LogGuard), LogError> {
    // Installing also fixes the `log` crate's maximum level to the subscriber's level at that
    // moment, for good. Starting at INFO at least keeps library records up to INFO reachable
    // when an admin raises the level later; the requested level is applied right after.
    let start = level.max(LogLevel::Info);
    let (subscriber, control, guard) = build(data_dir, start)?;
    subscriber.try_init().map_err(LogError::AlreadyInstalled)?;
    if start != level {
        control.set_level(level)?;
    }
    Ok((control, guard))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    fn read_log(control: &LogControl) -> String {
        let file = control.current_file().expect("a log file exists");
        std::fs::read_to_string(file).unwrap()
    }

    #[test]
    fn raising_the_level_at_run_time_shows_debug_lines_only_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let (subscriber, control, guard) = build(dir.path(), LogLevel::Info).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("debug-before-raise");
            tracing::info!("info-at-start");
            control.set_level(LogLevel::Debug).unwrap();
            tracing::debug!("debug-after-raise");
            control.set_level(LogLevel::Error).unwrap();
            tracing::warn!("warn-after-lowering");
            tracing::error!("error-after-lowering");
        });
        drop(guard);
        let text = read_log(&control);
        assert!(!text.contains("debug-before-raise"), "{text}");
        assert!(text.contains("info-at-start"), "{text}");
        assert!(text.contains("debug-after-raise"), "{text}");
        assert!(!text.contains("warn-after-lowering"), "{text}");
        assert!(text.contains("error-after-lowering"), "{text}");
        assert_eq!(control.level(), LogLevel::Error);
    }

    #[test]
    fn log_file_is_named_by_date_in_the_logs_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (subscriber, control, guard) = build(dir.path(), LogLevel::Info).unwrap();
        tracing::subscriber::with_default(subscriber, || tracing::info!(user = "1001", "hello"));
        drop(guard);
        let file = control.current_file().unwrap();
        assert_eq!(file.parent().unwrap(), dir.path().join("logs"));
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name == format!("ctibridge.log.{today}")
                || name == format!("ctibridge.log.{yesterday}"),
            "{name}"
        );
        let text = read_log(&control);
        assert!(
            text.contains("INFO") && text.contains("hello") && text.contains("user=\"1001\""),
            "{text}"
        );
        assert!(
            !text.contains('\u{1b}'),
            "no colour codes in the file: {text:?}"
        );
    }

    #[test]
    fn libraries_stay_at_info_when_our_level_is_trace() {
        let dir = tempfile::tempdir().unwrap();
        let (subscriber, control, guard) = build(dir.path(), LogLevel::Trace).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!("our-trace");
            tracing::debug!(target: "hyper::proto", "library-debug");
            tracing::info!(target: "hyper::proto", "library-info");
        });
        drop(guard);
        let text = read_log(&control);
        assert!(text.contains("our-trace"), "{text}");
        assert!(!text.contains("library-debug"), "{text}");
        assert!(text.contains("library-info"), "{text}");
    }

    #[test]
    fn current_file_picks_the_newest_day_and_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let (_subscriber, control, guard) = build(dir.path(), LogLevel::Info).unwrap();
        drop(guard);
        let logs = control.log_dir().to_owned();
        for name in [
            "ctibridge.log.2001-01-01",
            "ctibridge.log.2999-12-31",
            "other.txt",
        ] {
            std::fs::write(logs.join(name), "x").unwrap();
        }
        std::fs::create_dir(logs.join("ctibridge.log.9999-99-99")).unwrap();
        assert_eq!(
            control.current_file().unwrap(),
            logs.join("ctibridge.log.2999-12-31")
        );
    }

    /// Set by the parent test for the child process; absent in a normal run.
    const CHILD_DIR_VAR: &str = "CTIBRIDGE_LOGGING_TEST_CHILD_DIR";

    #[test]
    fn init_installs_once_per_process_at_the_requested_level() {
        // A process has one global subscriber, so this runs in a fresh copy of the test binary.
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "logging::tests::init_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_VAR, dir.path())
            .output()
            .unwrap();
        let report = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{report}");
        assert!(report.contains("1 passed"), "{report}");
        let logs = dir.path().join("logs");
        let file = std::fs::read_dir(&logs)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.contains("warn-line"), "{text}");
        assert!(!text.contains("info-line"), "{text}");
    }

    #[test]
    #[ignore = "run by init_installs_once_per_process_at_the_requested_level in its own process"]
    fn init_child() {
        let Some(dir) = std::env::var_os(CHILD_DIR_VAR) else {
            return;
        };
        let dir = PathBuf::from(dir);
        let (control, guard) = init(&dir, LogLevel::Warn).unwrap();
        assert_eq!(control.level(), LogLevel::Warn);
        tracing::info!("info-line");
        tracing::warn!("warn-line");
        let second = init(&dir, LogLevel::Info);
        assert!(matches!(second, Err(LogError::AlreadyInstalled(_))));
        drop(guard);
    }

    #[test]
    fn unusable_data_dir_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let err = build(&file, LogLevel::Info).err().expect("fails");
        assert!(matches!(err, LogError::CreateDir { .. }), "{err}");
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
