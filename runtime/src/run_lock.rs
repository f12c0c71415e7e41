//! One writer per run directory. A process that writes a run (`lsmc
//! train`) or a sweep's directory (`lsmc sweep`) holds an exclusive lock on
//! its `writer.lock` for as long as it runs; a second writer is refused at
//! once with the holder's process id, command and start time. The lock is
//! the operating system's (`flock`), so it ends with its process however
//! that ends — a `kill -9` leaves no stale lock to clean up. Readers
//! (`eval`, `report`, `predict`) take no lock: every file a writer
//! replaces is replaced atomically.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in a locked directory.
pub const LOCK_FILE: &str = "writer.lock";

/// Who holds a lock, as the holder wrote it into the lock file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The holder's command line.
    pub command: String,
    /// When it took the lock (UTC, RFC 3339).
    pub since: String,
}

/// A held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

#[derive(Debug)]
pub enum LockError {
    /// Another process writes the directory; `holder` is what it wrote
    /// about itself (`None` in the instant between its lock and its note).
    Held {
        dir: PathBuf,
        holder: Option<Holder>,
    },
    Io {
        path: PathBuf,
        reason: String,
    },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { dir, holder } => {
                write!(f, "{} is being written by ", dir.display())?;
                match holder {
                    Some(h) => write!(f, "process {} (`{}`, since {})", h.pid, h.command, h.since),
                    None => f.write_str("another process"),
                }
            }
            LockError::Io { path, reason } => {
                write!(f, "cannot lock {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for LockError {}

fn io_error(path: &Path, e: std::io::Error) -> LockError {
    LockError::Io {
        path: path.to_path_buf(),
        reason: crate::records::io_reason(&e),
    }
}

impl RunLock {
    /// Creates `dir` if needed and locks it for this process, or says who
    /// holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let path = dir.join(LOCK_FILE);
        // Not truncated on open: the holder's note must survive a refused
        // second writer.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder: read_holder(&mut file),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io_error(&path, e)),
        }
        let me = Holder {
            pid: std::process::id(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            since: now(),
        };
        let note = serde_json::to_string(&me).expect("a holder serialises");
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(note.as_bytes()))
            .and_then(|_| file.flush())
            .map_err(|e| io_error(&path, e))?;
        Ok(RunLock { _file: file })
    }

    /// Who holds `dir`'s lock now, if anyone: `Ok(None)` when it is free
    /// (or was never taken). Takes and releases the lock to find out.
    pub fn holder(dir: &Path) -> Result<Option<Option<Holder>>, LockError> {
        let path = dir.join(LOCK_FILE);
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        match file.try_lock() {
            Ok(()) => Ok(None),
            Err(TryLockError::WouldBlock) => Ok(Some(read_holder(&mut file))),
            Err(TryLockError::Error(e)) => Err(io_error(&path, e)),
        }
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// A moment in UTC, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
}

impl Utc {
    pub fn now() -> Utc {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days as i64);
        Utc {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
        }
    }

    /// `2026-12-01T21:30:02Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `20261201-213002`, for names.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn now() -> String {
    Utc::now().rfc3339()
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lsmc-lock-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_second_writer_is_refused_with_the_holders_note_until_the_first_lets_go() {
        let dir = scratch("two");
        let first = RunLock::acquire(&dir).unwrap();
        // flock locks belong to open files, so a second open in the same
        // process is refused as another process would be.
        let e = RunLock::acquire(&dir).unwrap_err();
        let LockError::Held {
            holder: Some(h), ..
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(h.pid, std::process::id());
        assert!(e.to_string().contains(&format!("process {}", h.pid)), "{e}");
        assert_eq!(
            RunLock::holder(&dir).unwrap().flatten().map(|h| h.pid),
            Some(std::process::id())
        );
        drop(first);
        assert!(RunLock::holder(&dir).unwrap().is_none());
        let _again = RunLock::acquire(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dates_are_the_calendars() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_788), (2026, 12, 1));
    }
}
