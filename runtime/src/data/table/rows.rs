//! A table file as rows of the cells a configuration reads, each row with
//! its line number: the one place that knows JSON Lines from TSV.

use super::error::{FileError, Problem};
use lsmc_ir::data::TableFormat;
use serde_json::Value;
use std::path::Path;

/// What a cell may hold in JSON: text always a string; a label a string or
/// an integer (Hugging Face exports write classes as 0, 1, 2), read as its
/// decimal text.
/// A `MaybeLabel` is a label that may be absent: a JSON record without
/// the key (or with `null`), a TSV header without the column. Predictions
/// read such files: new pairs may come with a gold label or without.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Text,
    Label,
    MaybeLabel,
}

/// One record: its line (from 1) and the cells asked for, in that order;
/// `None` only for an absent `MaybeLabel`.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub line: usize,
    pub cells: Vec<Option<String>>,
}

impl Row {
    /// Cell `i`, which the reader asked for as a required one.
    pub fn cell(&self, i: usize) -> &str {
        self.cells[i]
            .as_deref()
            .expect("read_rows fills every required cell")
    }
}

/// The rows of `path`, each with the cells of `columns` in order.
pub fn read_rows(
    path: &Path,
    format: TableFormat,
    columns: &[(&str, Cell)],
) -> Result<Vec<Row>, FileError> {
    rows_of_text(path, &read_text(path)?, format, columns)
}

/// [`read_rows`] on a file's text already read (`path` names it in errors).
pub fn rows_of_text(
    path: &Path,
    text: &str,
    format: TableFormat,
    columns: &[(&str, Cell)],
) -> Result<Vec<Row>, FileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !is_blank(line));
    match format {
        TableFormat::Jsonl => lines
            .map(|(n, line)| json_row(path, n, line, columns))
            .collect(),
        TableFormat::Tsv => tsv_rows(path, lines, columns),
    }
}

/// Only spaces, tabs and carriage returns: such lines are skipped.
fn is_blank(line: &str) -> bool {
    line.chars().all(|c| matches!(c, ' ' | '\t' | '\r'))
}

/// The file as text, without a leading byte-order mark.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    let bytes = std::fs::read(path)
        .map_err(|e| FileError::new(path, Problem::Unreadable(e.to_string())))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        FileError::new(path, Problem::NotUtf8).at_line(line)
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

fn json_row(path: &Path, n: usize, line: &str, columns: &[(&str, Cell)]) -> Result<Row, FileError> {
    let at_line = |problem| FileError::new(path, problem).at_line(n);
    let value: Value = serde_json::from_str(line).map_err(|e| at_line(invalid_json(&e)))?;
    let Value::Object(object) = value else {
        return Err(at_line(Problem::NotAnObject(json_type(&value))));
    };
    let cells = columns
        .iter()
        .map(|&(column, cell)| match (object.get(column), cell) {
            (None | Some(Value::Null), Cell::MaybeLabel) => Ok(None),
            (None, _) => Err(at_line(Problem::MissingField).in_field(column)),
            (Some(v), _) => json_cell(v, cell)
                .map(Some)
                .map_err(|p| at_line(p).in_field(column)),
        })
        .collect::<Result<_, _>>()?;
    Ok(Row { line: n, cells })
}

fn invalid_json(e: &serde_json::Error) -> Problem {
    // serde_json ends its message with the position; the line is ours.
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    Problem::InvalidJson {
        message: message
            .strip_suffix(&suffix)
            .unwrap_or(&message)
            .to_string(),
        column: e.column(),
    }
}

fn json_cell(v: &Value, cell: Cell) -> Result<String, Problem> {
    match (v, cell) {
        (Value::String(s), _) => Ok(s.clone()),
        (Value::Number(n), Cell::Label | Cell::MaybeLabel) if n.is_i64() || n.is_u64() => {
            Ok(n.to_string())
        }
        (_, Cell::Text) => Err(Problem::WrongType {
            expected: "a string",
            found: json_type(v),
        }),
        (_, Cell::Label | Cell::MaybeLabel) => Err(Problem::WrongType {
            expected: "a string or an integer",
            found: json_type(v),
        }),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The header is the first non-blank line; every other non-blank line is
/// a row with exactly as many tab-separated cells. A column named twice in
/// the header is read from its first occurrence.
fn tsv_rows<'a>(
    path: &Path,
    mut lines: impl Iterator<Item = (usize, &'a str)>,
    columns: &[(&str, Cell)],
) -> Result<Vec<Row>, FileError> {
    let Some((header_line, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<&str> = header.split('\t').collect();
    let positions = columns
        .iter()
        .map(|&(column, cell)| {
            let at = header.iter().position(|h| *h == column);
            if cell == Cell::MaybeLabel {
                return Ok(at);
            }
            at.map(Some).ok_or_else(|| {
                let header = header.iter().map(|h| h.to_string()).collect();
                FileError::new(path, Problem::MissingColumn { header })
                    .at_line(header_line)
                    .in_field(column)
            })
        })
        .collect::<Result<Vec<Option<usize>>, _>>()?;
    lines
        .map(|(n, line)| {
            let cells: Vec<&str> = line.split('\t').collect();
            if cells.len() != header.len() {
                let problem = Problem::RaggedRow {
                    found: cells.len(),
                    expected: header.len(),
                };
                return Err(FileError::new(path, problem).at_line(n));
            }
            Ok(Row {
                line: n,
                cells: positions
                    .iter()
                    .map(|p| p.map(|p| cells[p].to_string()))
                    .collect(),
            })
        })
        .collect()
}
