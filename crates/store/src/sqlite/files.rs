//! The data directory and the key file: created private, refused when not private.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use secrecy::{ExposeSecret, SecretBox};

use super::crypto::{KEY_LEN, Sealer};
use crate::StoreError;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

fn dir_error(path: &Path, problem: impl Into<String>, source: Option<io::Error>) -> StoreError {
    StoreError::DataDir {
        path: path.to_owned(),
        problem: problem.into(),
        source,
    }
}

fn key_error(path: &Path, problem: impl Into<String>, source: Option<io::Error>) -> StoreError {
    StoreError::KeyFile {
        path: path.to_owned(),
        problem: problem.into(),
        source,
    }
}

/// Permission bits that let anyone but the owner in.
#[cfg(unix)]
fn foreign_access(meta: &fs::Metadata) -> Option<u32> {
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Creates the data directory (0700) if needed and checks that it is a directory.
pub(crate) fn prepare_data_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder
        .create(dir)
        .map_err(|e| dir_error(dir, "cannot be created", Some(e)))?;
    let meta = fs::metadata(dir).map_err(|e| dir_error(dir, "cannot be read", Some(e)))?;
    if !meta.is_dir() {
        return Err(dir_error(dir, "is not a directory", None));
    }
    #[cfg(unix)]
    if let Some(mode) = foreign_access(&meta) {
        // Not refused: the key file and database are private on their own; this only widens
        // what others can list.
        tracing::warn!(
            path = %dir.display(),
            mode = format!("{mode:04o}"),
            "data directory is open to other users; chmod 700 it"
        );
    }
    Ok(())
}

/// Creates an empty file readable by its owner only, unless it exists. SQLite gives its -wal
/// and -shm files the database file's permissions, so this keeps all three private.
pub(crate) fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            if let Some(mode) = fs::metadata(path).ok().as_ref().and_then(foreign_access) {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{mode:04o}"),
                    "database file is readable by other users; chmod 600 it"
                );
            }
            Ok(())
        }
        Err(e) => Err(dir_error(path, "cannot create the database file", Some(e))),
    }
}

/// Reads the key file; `None` when there is none.
pub(crate) fn load_key(path: &Path) -> Result<Option<SecretBox<[u8; KEY_LEN]>>, StoreError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(key_error(path, "cannot be opened", Some(e))),
    };
    // Checked on the open handle, so that what is checked is what is read.
    let meta = file
        .metadata()
        .map_err(|e| key_error(path, "cannot be read", Some(e)))?;
    if !meta.is_file() {
        return Err(key_error(path, "is not a regular file", None));
    }
    #[cfg(unix)]
    if let Some(mode) = foreign_access(&meta) {
        return Err(key_error(
            path,
            format!(
                "has permissions {mode:04o}, so other users may read the key that protects the \
                 stored credentials; make it private with `chmod 600 {}`",
                path.display()
            ),
            None,
        ));
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(key_error(
            path,
            format!(
                "is {} bytes long, but a key file holds exactly {KEY_LEN} random bytes; restore \
                 the original file (a new key cannot decrypt the stored credentials)",
                meta.len()
            ),
            None,
        ));
    }
    let mut read = Ok(());
    let key = SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| read = file.read_exact(k));
    read.map_err(|e| key_error(path, "cannot be read", Some(e)))?;
    Ok(Some(key))
}

/// Creates the key file with a fresh key, atomically: the key is written and synced under a
/// temporary name, then hard-linked into place, which fails rather than replace a key file that
/// appeared meanwhile (then that one is used). A crash leaves no half-written key file.
pub(crate) fn create_key(path: &Path) -> Result<SecretBox<[u8; KEY_LEN]>, StoreError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = dir.join(format!(
        ".secret.key.{}.{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let key = Sealer::generate_key();
    let written = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(key.expose_secret())?;
        file.sync_all()
    })();
    let linked = written.and_then(|()| fs::hard_link(&tmp, path));
    // The temporary name goes in every case; a failure to remove it is harmless.
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Ok(d) = File::open(dir) {
                // Makes the new directory entry durable; not all platforms allow it.
                let _ = d.sync_all();
            }
            tracing::info!(path = %path.display(), "created a new key file for stored credentials");
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => load_key(path)?
            .ok_or_else(|| key_error(path, "appeared and vanished while being created", None)),
        Err(e) => Err(key_error(path, "cannot be created", Some(e))),
    }
}
