//! What can be wrong with a table's files, each kind a variant, each shown
//! as `FILE:LINE: field `FIELD`: what` (the line and field where known).

use lsmc_ir::plan::Split as Part;
use std::fmt;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq)]
pub enum TableError {
    /// The configuration cannot be applied whatever the files hold
    /// (`lsmc_ir::data::Table::problems`); the compiler should have said so.
    Config(Vec<String>),
    /// A problem in a data file.
    File(FileError),
    /// The word-vector file's own message (it names the file and line).
    Vectors(String),
}

/// A problem at a place in a data file.
#[derive(Clone, Debug, PartialEq)]
pub struct FileError {
    pub file: PathBuf,
    /// From 1; `None` for a problem of the whole file.
    pub line: Option<usize>,
    /// The JSON key or TSV column.
    pub field: Option<String>,
    /// Boxed: errors travel in every `Result` of the reader, kept small.
    pub problem: Box<Problem>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// Missing, a directory, or not readable: the system's words.
    Unreadable(String),
    NotUtf8,
    /// serde_json's message, and the column in the line.
    InvalidJson {
        message: String,
        column: usize,
    },
    /// A JSON line that is an array, a string, … (its JSON type).
    NotAnObject(&'static str),
    /// A JSON record without the key.
    MissingField,
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    UnknownLabel {
        label: String,
        known: Vec<String>,
        skipped: Vec<String>,
    },
    /// A text with no token (empty, or only whitespace).
    EmptyText(String),
    /// A TSV row with another number of columns than the header.
    RaggedRow {
        found: usize,
        expected: usize,
    },
    /// A TSV header without the column.
    MissingColumn {
        header: Vec<String>,
    },
    /// A split-column value that names none of the three splits.
    UnknownSplit {
        value: String,
        values: [String; 3],
    },
    EmptySplit {
        split: Part,
        why: String,
    },
    /// A file of records to classify that has none.
    NoRecords,
}

impl FileError {
    pub fn new(file: impl Into<PathBuf>, problem: Problem) -> FileError {
        FileError {
            file: file.into(),
            line: None,
            field: None,
            problem: Box::new(problem),
        }
    }

    pub fn at_line(mut self, line: usize) -> FileError {
        self.line = Some(line);
        self
    }

    pub fn in_field(mut self, field: &str) -> FileError {
        self.field = Some(field.to_string());
        self
    }
}

impl TableError {
    /// The error with its file named absolute ([`crate::data::shown`]):
    /// for the spec's data files, which reach the reader relative to the
    /// working directory.
    pub fn with_absolute_path(self) -> TableError {
        match self {
            TableError::File(mut e) => {
                e.file = crate::data::shown(&e.file).into();
                TableError::File(e)
            }
            other => other,
        }
    }
}

impl From<FileError> for TableError {
    fn from(e: FileError) -> TableError {
        TableError::File(e)
    }
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::Config(problems) => {
                write!(f, "table data: {}", problems.join("; "))
            }
            TableError::File(e) => e.fmt(f),
            TableError::Vectors(message) => f.write_str(message),
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreadable(why) => write!(f, "cannot read the file: {why}"),
            Problem::NotUtf8 => f.write_str("not UTF-8 text"),
            Problem::InvalidJson { message, column } => {
                write!(f, "invalid JSON at column {column}: {message}")
            }
            Problem::NotAnObject(found) => {
                write!(f, "a record must be a JSON object, not {found}")
            }
            Problem::MissingField => f.write_str("missing from the record"),
            Problem::WrongType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            Problem::UnknownLabel {
                label,
                known,
                skipped,
            } => {
                write!(
                    f,
                    "unknown label `{label}`; the known labels are {}",
                    known.join(", ")
                )?;
                if !skipped.is_empty() {
                    write!(f, " (skipped: {})", skipped.join(", "))?;
                }
                Ok(())
            }
            Problem::EmptyText(text) => write!(f, "no tokens in the text `{text}`"),
            Problem::RaggedRow { found, expected } => write!(
                f,
                "{found} tab-separated columns, but the header has {expected}"
            ),
            Problem::MissingColumn { header } => {
                write!(f, "no such column; the header has {}", header.join(", "))
            }
            Problem::UnknownSplit { value, values } => write!(
                f,
                "`{value}` is none of the split values `{}` (train), `{}` (valid), `{}` (test)",
                values[0], values[1], values[2]
            ),
            Problem::EmptySplit { split, why } => write!(f, "no {split} records: {why}"),
            Problem::NoRecords => f.write_str("no records to classify"),
        }
    }
}

impl std::error::Error for TableError {}
