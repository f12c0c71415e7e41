//! Source files and the one span type every stage uses.
//!
//! A [`Span`] is three integers and `Copy`: cheap to store on every AST node.
//! It is turned into a miette span only when a diagnostic is rendered.

use std::path::{Path, PathBuf};

pub use lsmc_ir::span::{FileId, Span};

/// Where a source came from; decides how relative paths inside it resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A spec file on disk: paths in it are relative to its directory.
    File(PathBuf),
    /// The built-in prelude (compiled into the binary).
    Prelude,
    /// A `--set PATH=VALUE` flag: paths in it are relative to the working directory.
    CommandLine,
}

/// A directory that relative data paths resolve against instead of the
/// directory of the spec that names them. The front end finds it
/// (`--data-root`, `LSMC_DATA_ROOT`) and passes it in; the compiler reads
/// no environment. `use` paths are code, not data: they stay relative to
/// the file that says them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRoot {
    pub dir: PathBuf,
    /// How it was given, named in diagnostics.
    pub from: RootFrom,
}

/// How a data root was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootFrom {
    /// `--data-root DIR`.
    Flag,
    /// The environment variable `LSMC_DATA_ROOT`.
    Env,
    /// The run's `run.json`: the root the run was trained with, for
    /// `lsmc eval`, `lsmc predict` and `lsmc train --resume RUN_DIR`.
    Run,
}

/// What a relative data path was resolved against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataBase {
    /// The directory of the spec (or `use`d file) that names it.
    SpecDir,
    /// The working directory: a `--set` value, with no data root.
    WorkingDir,
    /// A data root.
    Root(RootFrom),
}

#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics (the path as the user wrote it).
    pub name: String,
    pub text: String,
    pub origin: Origin,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Directory that relative paths written in this source are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        match &self.origin {
            Origin::File(p) => p
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            Origin::Prelude | Origin::CommandLine => PathBuf::from("."),
        }
    }

    /// The directory relative data paths written in this source resolve
    /// against, and which rule chose it: the data root when there is one,
    /// else [`SourceFile::base_dir`].
    pub fn data_base(&self, root: Option<&DataRoot>) -> (PathBuf, DataBase) {
        match (root, &self.origin) {
            (Some(r), _) => (r.dir.clone(), DataBase::Root(r.from)),
            (None, Origin::File(_)) => (self.base_dir(), DataBase::SpecDir),
            (None, Origin::Prelude | Origin::CommandLine) => {
                (self.base_dir(), DataBase::WorkingDir)
            }
        }
    }

    /// The 0-based line a byte offset is on.
    pub fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// The byte range of 0-based lines `first..=last` (clamped), line ends
    /// included.
    pub fn lines_range(&self, first: usize, last: usize) -> std::ops::Range<usize> {
        let last = last.min(self.line_starts.len() - 1);
        let start = self.line_starts[first.min(last)];
        let end = self
            .line_starts
            .get(last + 1)
            .copied()
            .unwrap_or(self.text.len());
        start..end
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_index(offset);
        let start = self.line_starts[line];
        let col = self.text[start..floor_char_boundary(&self.text, offset)]
            .chars()
            .count();
        (line + 1, col + 1)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Every source a check reads: spec files, `use`d files, the prelude and
/// command-line overrides.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

/// A lone `\r` (classic Mac line endings) read as `\n`, byte for byte, so
/// that lines, `//` comments and reported positions end where the author
/// sees them end; `\r\n` stays as it is.
fn lone_cr_as_newline(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let lone = c == '\r' && chars.peek() != Some(&'\n');
        out.push(if lone { '\n' } else { c });
    }
    out
}

impl Sources {
    pub fn new() -> Sources {
        Sources::default()
    }

    pub fn add(
        &mut self,
        name: impl Into<String>,
        text: impl Into<String>,
        origin: Origin,
    ) -> FileId {
        let text = lone_cr_as_newline(text.into());
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        self.files.push(SourceFile {
            name: name.into(),
            text,
            origin,
            line_starts,
        });
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// The text a span covers.
    pub fn slice(&self, span: Span) -> &str {
        let f = self.get(span.file);
        f.text.get(span.range()).unwrap_or("")
    }

    /// `name:line:col` of a span's start, for notes that point at another file.
    pub fn location(&self, span: Span) -> String {
        let f = self.get(span.file);
        let (l, c) = f.line_col(span.start as usize);
        format!("{}:{}:{}", f.name, l, c)
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }
}
